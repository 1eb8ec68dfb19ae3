"""Checks of the project's own artefacts that no off-the-shelf command covers as it is."""
