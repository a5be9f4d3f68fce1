"""What every app kind's generator shares: the difficulty ladder's common rungs and distractor dialogs."""

from __future__ import annotations

import random

from vista_envs.gui.app import App

__all__ = ["TARGET_SCALE", "maybe_popup", "near_duplicate"]

# Row height relative to the screen, by difficulty: targets shrink as the level rises.
TARGET_SCALE = {1: 1.0, 2: 0.93, 3: 0.86, 4: 0.78, 5: 0.7}

_POPUPS = (
    ("Cookies", "We use cookies to improve your experience.", ("Accept", "Decline")),
    ("Update available", "A new version is ready to install.", ("Later", "Remind me")),
    ("Tip", "You can press Tab to move between fields.", ("Got it", "Close")),
)


def maybe_popup(app: App, rng: random.Random, difficulty: int) -> None:
    """From level 4 a distractor dialog covers the app at the start; either button closes it."""
    if difficulty >= 4 and rng.random() < 0.7:
        title, text, (first, second) = rng.choice(_POPUPS)
        app.open_dialog(
            title,
            text,
            [(second, "dismiss", False), (first, "dismiss", True)],
            choice=1,
            cancel_command="dismiss",
        )


def near_duplicate(label: str, rng: random.Random) -> str:
    """A label that differs from ``label`` by one word or a suffix (the hard levels' distractors)."""
    words = label.split()
    swaps = {
        "notifications": "reminders",
        "email": "e-mail",
        "updates": "upgrades",
        "mode": "theme",
        "size": "scale",
        "name": "names",
    }
    for i, word in enumerate(words):
        if word.lower() in swaps:
            return " ".join(words[:i] + [swaps[word.lower()]] + words[i + 1 :])
    return label + rng.choice((" (beta)", " 2", " backup"))
