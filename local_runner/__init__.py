"""Run the image downloader's state machine on one machine, on an in-process AWS emulator (moto)."""
