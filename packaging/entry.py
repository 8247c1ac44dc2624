"""The frozen app's entry point (PyInstaller runs this file as ``__main__``)."""

import multiprocessing

if __name__ == "__main__":
    # The analyser and the knowledge base's embedder run in child processes started with
    # "spawn": in a frozen app each child is this executable again, and freeze_support()
    # turns it into the child instead of a second Kefu.
    multiprocessing.freeze_support()
    from app.launcher import entry

    entry()
