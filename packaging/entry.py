"""The frozen app's entry point (PyInstaller runs this file as ``__main__``)."""

from app.launcher import entry

if __name__ == "__main__":
    entry()
