"""Forms: login, settings (toggles, dropdowns, sliders, text boxes) and a multi-page checkout.

Difficulty ladder:

- 1: one or two values to set on a short page; large targets.
- 2: two or three values; the login asks for "Remember me" too.
- 3: three values among more widgets, near-duplicate labels; the checkout flow (three pages) appears.
- 4: four values; smaller targets; a distractor dialog may cover the form at the start.
- 5: five values among a long page that scrolls; the smallest targets; sliders with finer steps.

Success (exact): the committed values (at Save / Sign in / Place order) equal the defaults with the
asked changes, and nothing else.
"""

from __future__ import annotations

import random
from typing import Any

from vista_envs.gui.app import App
from vista_envs.gui.apps.common import TARGET_SCALE, maybe_popup, near_duplicate
from vista_envs.gui.goals import Goal, Press, ValueIs
from vista_envs.gui.layout import Column
from vista_envs.gui.theme import random_theme
from vista_envs.gui.widgets import Dropdown, Slider, TextField, Toggle, Widget

__all__ = ["FormApp", "make_form"]

_TOGGLES = ("Email notifications", "Push notifications", "Dark mode", "Auto-update", "Two-factor login",
            "Show online status", "Sync contacts", "Location access", "Weekly digest", "Read receipts", "Sound effects",
            "Autoplay videos")  # fmt: skip
_DROPDOWNS = {
    "Language": ("English", "French", "German", "Spanish", "Italian", "Dutch"),
    "Theme": ("Light", "Dark", "System"),
    "Font size": ("Small", "Medium", "Large", "Huge"),
    "Start page": ("Home", "Inbox", "Calendar", "Projects"),
    "Currency": ("USD", "EUR", "GBP", "JPY", "CHF"),
    "Date format": ("DD/MM/YYYY", "MM/DD/YYYY", "YYYY-MM-DD"),
}
_SLIDERS = {
    "Volume": (0, 100),
    "Brightness": (0, 100),
    "Auto-lock minutes": (0, 30),
    "Text size": (8, 24),
}
_FIELDS = {"Display name": ("Ada Park", "Sam Ortiz", "Lee Chan", "Mia Novak"),
           "City": ("Lyon", "Porto", "Oslo", "Kyoto", "Quito"),
           "Phone": ("555-0142", "555-0199", "555-0173")}  # fmt: skip
_USERS = ("alice", "bob.k", "carol99", "dev_ops", "erin.w", "frank")
_COUNTRIES = ("France", "Germany", "Japan", "Brazil", "Canada", "Kenya")
_METHODS = ("Standard", "Express", "Overnight")
_CARDS = ("Visa", "Mastercard", "Amex")


class FormApp(App):
    """One or more pages of inputs; ``next``/``back`` move between pages and the commit command saves."""

    def __init__(self, *args: Any, commit_command: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.commit_command = commit_command
        self.committed: dict[str, Any] | None = None

    def inputs(self) -> dict[str, Any]:
        return {
            w.wid: w.value for page in self.pages for w in page if isinstance(w, (TextField, Toggle, Dropdown, Slider))
        }

    def command(self, name: str) -> str:
        if name in ("next", "back"):
            self.page = max(0, min(len(self.pages) - 1, self.page + (1 if name == "next" else -1)))
            self.scroll_y, self.focus = 0, None
            return f'Now on the "{self.page_titles[self.page]}" page.'
        if name == self.commit_command:
            self.committed = self.inputs()
            self.status = {
                "save": "Settings saved.",
                "sign_in": "Signed in.",
                "order": "Order placed.",
            }[name]
            return self.status
        return ""

    def extra_snapshot(self) -> Any:
        return None if self.committed is None else tuple(sorted(self.committed.items()))


def _password(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(rng.randint(6, 9)))


def _describe(widget: Widget, value: Any) -> str:
    if isinstance(widget, Toggle):
        return f'turn {"on" if value else "off"} "{widget.label}"'
    return (
        f'set "{widget.label}" to {value!s}'
        if not isinstance(widget, TextField)
        else f'enter "{value}" in "{widget.label}"'
    )


def make_form(rng: random.Random, difficulty: int, size: tuple[int, int]) -> tuple[FormApp, Goal]:
    """A login, settings or checkout form and the values to set in it."""
    variants = ["login", "settings"] if difficulty <= 2 else ["settings", "checkout", "login"]
    variant = rng.choice(variants)
    theme = random_theme(rng, size[1], TARGET_SCALE[difficulty])
    top = theme.row + theme.row // 2
    if variant == "login":
        return _login(rng, difficulty, size, theme, top)
    if variant == "checkout":
        return _checkout(rng, difficulty, size, theme, top)
    return _settings(rng, difficulty, size, theme, top)


def _finish(
    app: FormApp,
    targets: list[tuple[Widget, Any]],
    commit_wid: str,
    verb: str,
    rng: random.Random,
    difficulty: int,
) -> tuple[FormApp, Goal]:
    expected = app.inputs()
    expected.update({w.wid: v for w, v in targets})
    parts = [_describe(w, v) for w, v in targets]
    where = "" if len(app.pages) == 1 else " (the form has several pages)"
    instruction = (
        f'{"; ".join(parts)}; then click "{app.widget(commit_wid).label}"{where}. Leave everything else as it is.'
    )
    instruction = instruction[0].upper() + instruction[1:]
    subgoals = [ValueIs(w.wid, v) for w, v in targets]
    subgoals.append(Press(commit_wid, lambda a: a.committed == expected))
    maybe_popup(app, rng, difficulty)
    return app, Goal(f"{verb}: {instruction}", subgoals, any_order=True)


def _login(rng: random.Random, difficulty: int, size: tuple[int, int], theme, top: int) -> tuple[FormApp, Goal]:
    col = Column(size, theme, top, rng)
    widgets: list[Widget] = [
        col.heading(
            "heading",
            rng.choice(("Welcome back", "Sign in to continue", "Account login")),
        )
    ]
    user = col.field("username", "Username", placeholder="name")
    password = col.field("password", "Password", secret=True)
    widgets += [user, password]
    extra: list[Widget] = []
    if difficulty >= 3:
        extra.append(col.dropdown("workspace", "Workspace", ("Personal", "Team", "Enterprise"), 0))
    remember = col.toggle("remember", "Remember me", rng.random() < 0.5)
    if difficulty >= 3:
        extra.append(col.toggle("remember-device", near_duplicate("Remember me", rng), False))
    widgets += extra + [remember]
    widgets += col.buttons(
        [
            ("forgot", "Forgot password", "forgot", False),
            ("sign-in", "Sign in", "sign_in", True),
        ]
    )
    app = FormApp(
        "form",
        rng.choice(("Acme Portal", "Nimbus Mail", "Ledger Cloud")),
        size,
        theme,
        [widgets],
        ["Login"],
        commit_command="sign_in",
    )
    targets: list[tuple[Widget, Any]] = [
        (user, rng.choice(_USERS)),
        (password, _password(rng)),
    ]
    if difficulty >= 2:
        targets.append((remember, not remember.on))
    if difficulty >= 3:
        targets.append((extra[0], rng.choice(("Team", "Enterprise"))))
    return _finish(app, targets, "sign-in", "Sign in", rng, difficulty)


def _settings(rng: random.Random, difficulty: int, size: tuple[int, int], theme, top: int) -> tuple[FormApp, Goal]:
    col = Column(size, theme, top, rng)
    widgets: list[Widget] = [col.heading("heading", rng.choice(("Settings", "Preferences", "Account settings")))]
    n_widgets = 3 + 2 * difficulty
    kinds = ["toggle", "dropdown", "slider", "field"]
    pool = {
        "toggle": list(_TOGGLES),
        "dropdown": list(_DROPDOWNS),
        "slider": list(_SLIDERS),
        "field": list(_FIELDS),
    }
    for names in pool.values():
        rng.shuffle(names)
    inputs: list[Widget] = []
    labels: set[str] = set()
    while len(inputs) < n_widgets:
        kind = rng.choice(kinds) if inputs else "toggle"
        if not pool[kind]:
            continue
        name = pool[kind].pop()
        wid = f"w{len(inputs)}"
        labels.add(name)
        if kind == "toggle":
            inputs.append(col.toggle(wid, name, rng.random() < 0.5))
        elif kind == "dropdown":
            inputs.append(col.dropdown(wid, name, _DROPDOWNS[name], rng.randrange(len(_DROPDOWNS[name]))))
        elif kind == "slider":
            lo, hi = _SLIDERS[name]
            # The finest step whose ticks stay at least 4 pixels apart: exact clicks stay possible.
            steps = [s for s in (10, 5, 2, 1) if (hi - lo) % s == 0 and col.slider_width() * s / (hi - lo) >= 4]
            step = steps[0] if difficulty <= 3 else steps[-1]
            inputs.append(
                col.slider(
                    wid,
                    name,
                    lo,
                    hi,
                    step,
                    lo + step * rng.randint(0, (hi - lo) // step),
                )
            )
        else:
            inputs.append(col.field(wid, name, text=rng.choice(_FIELDS[name])))
    if difficulty >= 3:  # near-duplicate distractors: a toggle whose label differs by a word
        for source in [w for w in inputs if isinstance(w, Toggle)][:2]:
            label = near_duplicate(source.label, rng)
            if label not in labels:
                labels.add(label)
                inputs.append(col.toggle(f"w{len(inputs)}", label, rng.random() < 0.5))
    widgets += inputs
    widgets += col.buttons([("cancel", "Cancel", "cancel", False), ("save", "Save", "save", True)])
    app = FormApp(
        "form",
        rng.choice(("Settings", "Control Panel", "Preferences")),
        size,
        theme,
        [widgets],
        ["Settings"],
        commit_command="save",
    )
    chosen = rng.sample([w for w in inputs], min(difficulty, len(inputs)))
    chosen.sort(key=lambda w: w.rect[1])
    targets = [(w, _new_value(w, rng)) for w in chosen]
    return _finish(app, targets, "save", "Settings", rng, difficulty)


def _new_value(widget: Widget, rng: random.Random) -> Any:
    if isinstance(widget, Toggle):
        return not widget.on
    if isinstance(widget, Dropdown):
        return rng.choice([o for o in widget.options if o != widget.value])
    if isinstance(widget, Slider):
        values = [v for v in range(widget.lo, widget.hi + 1, widget.step) if v != widget.position]
        return rng.choice(values)
    return rng.choice([v for v in _FIELDS[widget.label] if v != widget.value])


def _checkout(rng: random.Random, difficulty: int, size: tuple[int, int], theme, top: int) -> tuple[FormApp, Goal]:
    pages: list[list[Widget]] = []
    col = Column(size, theme, top, rng)
    heading = col.heading("h1", "Shipping address")
    name = col.field("full-name", "Full name")
    city = col.field("ship-city", "City")
    country = col.dropdown("country", "Country", _COUNTRIES, 0)
    pages.append([heading, name, city, country, *col.buttons([("next-1", "Next", "next", True)])])
    col = Column(size, theme, top, rng)
    heading = col.heading("h2", "Delivery")
    method = col.dropdown("method", "Shipping method", _METHODS, 0)
    gift = col.toggle("gift", "Gift wrap", False)
    insure = col.toggle("insure", "Insure parcel", rng.random() < 0.5)
    pages.append(
        [
            heading,
            method,
            gift,
            insure,
            *col.buttons([("back-2", "Back", "back", False), ("next-2", "Next", "next", True)]),
        ]
    )
    col = Column(size, theme, top, rng)
    heading = col.heading("h3", "Payment")
    card = col.dropdown("card", "Card type", _CARDS, 0)
    save_card = col.toggle("save-card", "Save card for later", False)
    pages.append(
        [
            heading,
            card,
            save_card,
            *col.buttons([("back-3", "Back", "back", False), ("place", "Place order", "order", True)]),
        ]
    )
    app = FormApp(
        "form",
        rng.choice(("ShopRight", "Bazaar", "Parcel&Co")),
        size,
        theme,
        pages,
        ["Shipping", "Delivery", "Payment"],
        commit_command="order",
    )
    targets: list[tuple[Widget, Any]] = [
        (name, rng.choice(_FIELDS["Display name"])),
        (city, rng.choice(_FIELDS["City"])),
        (country, rng.choice(_COUNTRIES[1:])),
    ]
    optional: list[tuple[Widget, Any]] = [
        (method, rng.choice(_METHODS[1:])),
        (gift, True),
        (insure, not insure.on),
        (card, rng.choice(_CARDS[1:])),
        (save_card, True),
    ]
    targets += rng.sample(optional, min(len(optional), difficulty - 2))
    order = {w.wid: i for i, w in enumerate(w for page in pages for w in page)}
    targets.sort(key=lambda t: order[t[0].wid])
    return _finish(app, targets, "place", "Checkout", rng, difficulty)
