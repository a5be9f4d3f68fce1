"""Code that runs *inside* the sandbox: the zygote, the per-episode confinement and the interpreter.

These modules import only the standard library (and numpy, in the interpreter), and import each
other by bare module name, because the sandbox sees this directory alone, as ``/sandbox/lib``.
The host imports :mod:`.framing` only, which imports nothing of its siblings.
"""
