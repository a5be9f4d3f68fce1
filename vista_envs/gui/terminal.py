"""Playing VistaGUI-v0 by hand: short commands for the tools, and screenshots with a pixel ruler.

Commands (one per line): ``X Y`` or ``click X Y``, ``type TEXT``, ``key NAME``, ``scroll DY`` or
``scroll DX DY``, ``drag X0 Y0 X1 Y1``, ``answer TEXT``. Anything else is sent to the env as it is
(so a full ``<tool_call>...`` turn works too, and a typo gets the env's own error message).
"""

from __future__ import annotations

import json
import re

from PIL import Image, ImageDraw

from vista_envs.tasks.drawing import font

__all__ = ["PLAY_HELP", "command_to_turn", "with_ruler"]

PLAY_HELP = (
    "Commands: X Y (click), type TEXT, key NAME, scroll DY, drag X0 Y0 X1 Y1, answer TEXT; or a raw <tool_call> turn."
)
_INT = r"(-?\d+)"


def _turn(tool: str, **arguments: object) -> str:
    return f"<tool_call>{json.dumps({'name': tool, 'arguments': arguments})}</tool_call>"


def command_to_turn(line: str) -> str:
    """The assistant turn a play command stands for."""
    text = line.strip()
    if match := re.fullmatch(rf"(?:click\s+)?{_INT}[\s,]+{_INT}", text):
        return _turn("click", x=int(match.group(1)), y=int(match.group(2)))
    if match := re.fullmatch(rf"scroll\s+{_INT}(?:[\s,]+{_INT})?", text):
        dx, dy = (0, int(match.group(1))) if match.group(2) is None else (int(match.group(1)), int(match.group(2)))
        return _turn("scroll", dx=dx, dy=dy)
    if match := re.fullmatch(rf"drag\s+{_INT}[\s,]+{_INT}[\s,]+{_INT}[\s,]+{_INT}", text):
        x0, y0, x1, y1 = (int(v) for v in match.groups())
        return _turn("drag", x0=x0, y0=y0, x1=x1, y1=y1)
    for name, argument in (("type", "text"), ("key", "name"), ("answer", "text")):
        if text.startswith(name + " "):
            return _turn(name, **{argument: line.strip()[len(name) + 1 :]})
    return line


def with_ruler(image: Image.Image, step: int = 50) -> Image.Image:
    """``image`` with a margin of pixel coordinates every ``step`` pixels, so a person can read click positions."""
    margin = 24
    width, height = image.size
    framed = Image.new("RGB", (width + margin, height + margin), (255, 255, 255))
    framed.paste(image, (margin, margin))
    draw = ImageDraw.Draw(framed)
    for x in range(0, width, step):
        draw.line((margin + x, margin - 6, margin + x, margin), fill=(200, 0, 0))
        draw.text((margin + x + 2, 2), str(x), font=font(10), fill=(200, 0, 0))
    for y in range(0, height, step):
        draw.line((margin - 6, margin + y, margin, margin + y), fill=(200, 0, 0))
        draw.text((1, margin + y + 2), str(y), font=font(9), fill=(200, 0, 0))
    return framed
