"""A small product-search evaluation run that reads like real data, for the UI tests."""

from __future__ import annotations

from typing import Any

QUERIES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "waterproof hiking boots",
        [
            ("Alpine GTX waterproof hiking boot", "Gore-Tex lined leather boots for wet trails."),
            ("Trail runner mesh shoe", "Light, breathable trail running shoe; not waterproof."),
            ("Wool hiking socks, 3 pack", "Merino socks for hikers."),
            ("Waterproof boot spray", "Silicone spray that keeps boots waterproof."),
            ("Summit mid hiking boot", "Waterproof membrane, ankle support, Vibram sole."),
        ],
    ),
    (
        "tent for two",
        [
            ("Ridge 2 backpacking tent", "Two-person dome tent, 1.6 kg, waterproof fly."),
            ("Family cabin tent", "Eight-person tent with two rooms."),
            ("Tent footprint", "Ground sheet that fits most two-person tents."),
            ("Camping hammock", "Single hammock with straps."),
            ("Duo ultralight tent", "Trekking-pole tent for two hikers, 900 g."),
        ],
    ),
    (
        "wireless headphones",
        [
            ("Acme AH-1 wireless headphones", "Over-ear Bluetooth headphones, 30 h battery."),
            ("USB-C charging cable", "Charging cable, 1 m."),
            ("Studio wired headphones", "Closed-back wired headphones with 3 m cable."),
            ("Wireless earbuds", "True wireless in-ear headphones with charging case."),
            ("Headphone stand", "Aluminium stand for headphones."),
        ],
    ),
    (
        "espresso machine",
        [
            ("Barista pro espresso machine", "15-bar pump espresso machine with steam wand."),
            ("Coffee grinder", "Conical burr grinder for espresso and filter."),
            ("Espresso cups, set of 4", "Porcelain espresso cups."),
            ("Capsule espresso maker", "Espresso machine for capsules, 19 bar."),
            ("Kettle", "Electric kettle, 1.7 l."),
        ],
    ),
    (
        "running shoes for women",
        [
            ("Women's road running shoe", "Cushioned running shoe for women, neutral."),
            ("Men's road running shoe", "Cushioned running shoe for men."),
            ("Women's trail running shoe", "Grippy running shoe for women on trails."),
            ("Running socks", "Breathable socks for running."),
            ("Women's walking shoe", "Comfortable walking shoe for women."),
        ],
    ),
    (
        "kids bike helmet",
        [
            ("Junior bike helmet", "Bike helmet for kids, sizes 48-54 cm."),
            ("Adult road helmet", "Lightweight road bike helmet."),
            ("Kids balance bike", "Balance bike for kids aged 2 to 5."),
            ("Kids ski helmet", "Ski helmet for children."),
            ("Helmet light", "Clip-on LED light for bike helmets."),
        ],
    ),
]


def evaluation_run(name: str, *, status: str = "completed") -> dict[str, Any]:
    """The catalogue as ``POST /evaluations/runs`` takes it (6 queries, 30 candidates)."""
    return {
        "name": name,
        "status": status,
        "scale": {
            "min": 0,
            "max": 3,
            "labels": {"0": "irrelevant", "1": "related", "2": "relevant", "3": "perfect"},
        },
        "queries": [
            {
                "query_id": f"q{q}",
                "text": text,
                "candidates": [
                    {"doc_id": f"D-{q}{r}", "rank": r, "title": title, "text": body}
                    for r, (title, body) in enumerate(documents, start=1)
                ],
            }
            for q, (text, documents) in enumerate(QUERIES, start=1)
        ],
    }
