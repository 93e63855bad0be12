"""The grading scale of an evaluation run: integer grades from ``min`` to ``max``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Scale(BaseModel):
    """An inclusive integer range of grades with optional labels.

    In JSON the label keys are the grades as strings (``{"0": "irrelevant"}``);
    pydantic turns them into ints here.
    """

    model_config = ConfigDict(extra="forbid")

    min: int = Field(0, ge=-1000, le=1000)
    max: int = Field(3, ge=-1000, le=1000)
    labels: dict[int, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_range(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"scale max ({self.max}) must be greater than min ({self.min})")
        if self.max - self.min > 100:
            raise ValueError("a scale spans at most 101 grades")
        outside = sorted(g for g in self.labels if not self.min <= g <= self.max)
        if outside:
            raise ValueError(f"labels for grades outside the scale: {outside}")
        return self

    def contains(self, grade: int) -> bool:
        return self.min <= grade <= self.max

    def label(self, grade: int) -> str | None:
        return self.labels.get(grade)

    def describe(self) -> str:
        """``0–4``: the range as users read it in error messages."""
        return f"{self.min}–{self.max}"
