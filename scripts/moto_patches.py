"""Patches to moto 5.2.5, loaded only by scripts/moto-server.py (tests and the quick start).

Each patch fixes a place where moto differs from AWS in a way that breaks a correct client; the
controller is written for AWS and is never bent to a moto bug. Keep each patch small, name the
bug (see ../shared/design/MOTO-NOTES.md), and make it a no-op if moto already behaves.
"""

PATCHES = []


def patch(fn):
    PATCHES.append(fn)
    return fn


def apply():
    for fn in PATCHES:
        fn()
