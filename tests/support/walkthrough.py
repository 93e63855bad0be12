"""A documented walkthrough (the ``sh`` blocks of a section of a Markdown page) run as
written from a bare shell: the simulator and the service started as the page's start-up
blocks show (``make sim``; ``… make run`` with the environment the block exports or sets),
then the other blocks, in order, in one ``bash`` with nothing but PATH, curl and jq."""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from releval_judge.sim import SimConfig
from tests.support.process import ServiceProcess, ServiceProcesses
from tests.support.servers import LocalServers
from tests.support.service import REPO

SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
# Where the pages' service and simulator listen (`make run`, `make sim`); a test's own
# listen on free ports, put in their place in every block and setting.
SERVICE_ADDRESS = "127.0.0.1:8080"
SIMULATOR_ADDRESS = "127.0.0.1:8090"
ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)


def section_blocks(page: Path, heading: str) -> list[str]:
    """Every ``sh`` block of the section ``## heading`` of ``page``, in order."""
    section = re.search(
        rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", page.read_text(), re.S | re.M
    )
    assert section, f"{page.relative_to(REPO)} has no '{heading}' section"
    return list(SHELL_BLOCK.findall(section.group(1)))


def shell_blocks(page: Path, heading: str, count: int) -> list[str]:
    """The ``sh`` blocks of the section ``## heading`` of ``page``, in order: ``count``."""
    blocks = section_blocks(page, heading)
    assert len(blocks) == count
    return blocks


def _commands(block: str) -> list[list[str]]:
    """The block's command lines as words (comments dropped, continued lines joined);
    none for a block whose quotes span lines (a request body: not a start-up block)."""
    try:
        lines = [
            shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines()
        ]
    except ValueError:
        return []
    return [words for words in lines if words]


def service_environment(block: str) -> dict[str, str] | None:
    """The environment a block starts the service with, when it is a start-up block: the
    variables it exports, and those set in front of its ``make run``. None for another
    block (one that does anything else than export and ``make run``)."""
    env: dict[str, str] = {}
    serves = False
    for words in _commands(block):
        if words[0] == "export":
            assignments = words[1:]
        else:
            *assignments, make, target = words if len(words) >= 2 else ["", ""]
            if (make, target) != ("make", "run"):
                return None
            serves = True
        for assignment in assignments:
            match = ASSIGNMENT.match(assignment)
            if match is None:
                return None
            env[match.group(1)] = match.group(2)
    return env if serves else None


def starts_simulator(block: str) -> bool:
    return _commands(block) == [["make", "sim"]]


@dataclass
class Walkthrough:
    """A section's start-up blocks (the simulator; the service with its environment) and
    the steps a user then types, in order."""

    simulator: bool
    service_env: dict[str, str] | None
    steps: list[str]


def walkthrough(page: Path, heading: str, steps: int) -> Walkthrough:
    """The section ``## heading`` of ``page`` split into its start-up blocks and its
    ``steps`` other blocks."""
    simulator, env, rest = False, None, []
    for block in section_blocks(page, heading):
        found = service_environment(block)
        if starts_simulator(block):
            simulator = True
        elif found is not None:
            assert env is None, f"{page.name}: two blocks start the service"
            env = found
        else:
            rest.append(block)
    assert len(rest) == steps, rest
    return Walkthrough(simulator, env, rest)


@dataclass
class Served:
    """The service a walkthrough's start-up block started, and the test's addresses to put
    in place of the page's."""

    process: ServiceProcess
    addresses: dict[str, str] = field(default_factory=dict)

    def localise(self, text: str) -> str:
        for documented, actual in self.addresses.items():
            text = text.replace(documented, actual)
        return text


async def serve_as_documented(
    page: Walkthrough, processes: ServiceProcesses, cwd: Path, simulator: str | None
) -> Served:
    """Lay ``cwd`` out as the page assumes (the checkout's ``examples/``) and start the
    service there as the page's start-up block does, with exactly its environment (the
    development token is the service's own, in its data folder). ``simulator``: the
    ``host:port`` of what stands in for the page's ``make sim`` (needed when it has one)."""
    assert page.service_env is not None, "the section shows no way to start the service"
    shutil.copytree(REPO / "examples", cwd / "examples")
    addresses = {}
    if page.simulator:
        assert simulator is not None, "the section starts the simulator: give one"
        addresses[SIMULATOR_ADDRESS] = simulator
    served = Served(processes.as_documented(cwd, {}), addresses)
    served.process.env = {k: served.localise(v) for k, v in page.service_env.items()}
    await served.process.start()
    served.addresses[SERVICE_ADDRESS] = f"127.0.0.1:{served.process.port}"
    return served


async def serve_with_simulator(
    page: Walkthrough,
    processes: ServiceProcesses,
    local_servers: LocalServers,
    cwd: Path,
    config: SimConfig | None = None,
) -> tuple[Served, int]:
    """The simulator (``make sim``'s defaults unless ``config``) and the service started as
    the page starts them; the service, and the simulator's port."""
    sim = await local_servers.sim(config or SimConfig())
    return await serve_as_documented(page, processes, cwd, f"127.0.0.1:{sim}"), sim


async def bare_bash(script: str, cwd: Path, *, timeout: float | None = None) -> str:
    """``script`` run by ``bash`` (``set -euo pipefail``) in ``cwd`` with PATH only, as in
    a fresh shell; what it printed on stdout (it must succeed, else its output and errors
    are the failure). ``timeout`` only stops a hung script."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        "set -euo pipefail\n" + script,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(timeout):
        out, err = await process.communicate()
    assert process.returncode == 0, (script, out.decode(), err.decode())
    return out.decode()


async def walk(
    steps: list[str], served: Served, cwd: Path, *, timeout: float | None = None
) -> list[str]:
    """Run ``steps`` in one bare ``bash`` in ``cwd``, on the test's service and simulator
    instead of the page's addresses; what each step printed (every one must succeed).
    ``timeout`` only stops a hung walkthrough."""
    script = "\n".join(
        f"echo '=== block {i}'\n{served.localise(step)}\necho" for i, step in enumerate(steps)
    )
    try:
        stdout = await bare_bash(script, cwd, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nthe service's log:\n{served.process.logs()[-3000:]}") from exc
    return re.split(r"^=== block \d+\n", stdout, flags=re.M)[1:]
