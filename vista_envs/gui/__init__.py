"""The synthetic applications of ``VistaGUI-v0``: a widget tree that is the ground truth, drawn with Pillow.

One job per module, bottom up:

- ``widgets``: the widgets' state and geometry; ``theme``: colours and sizes; ``layout``: placing rows;
- ``app``: pages, scrolling, focus, dialogs, and what each input does (never raises);
- ``render``: the screenshot; ``a11y``: the accessibility tree;
- ``actions``: the tools' schemas, checking a call, applying it;
- ``goals``: exact predicates, shaped progress and the oracle's plan; ``oracle``: reaching and operating widgets;
- ``apps``: the app kinds (form, table, dashboard, files), each with its difficulty ladder;
- ``task``: generating an app and its goal for a seed, difficulty and split;
- ``gallery`` and ``terminal``: contact sheets and the terminal player.
"""
