"""Procedural video for ``VistaVideo-v0``: clips with an exact event log, frames drawn on request,
question kinds with verifiers, and the frame tools an agent uses to look.

- :mod:`.clip`: a clip as data (tracks, the box, events) and its cheap queries;
- :mod:`.generate`: sampling a clip from (rng, difficulty, config);
- :mod:`.render`: drawing a frame, a grid of frames, a zoom;
- :mod:`.evidence`: what is known from all frames (the truth) or from some (an observer);
- :mod:`.questions`: the question kinds: ask, answer, the frames that decide;
- :mod:`.episode`: one episode's clip, question and task spec, split by content;
- :mod:`.tools`: the frame tools with their budget.
"""
