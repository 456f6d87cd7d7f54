import sys

try:
    from image_downloader_client.cli import entry_point
except ModuleNotFoundError as missing:
    # `python -m image_downloader_client` from a checkout (scripts/client.sh), where nothing installed the
    # client's dependencies; the installed console script always has them.
    if missing.name not in ("requests", "urllib3"):
        raise
    print(
        f"image-downloader: the client needs {missing.name}: pip install <this repository> installs it "
        "with its dependencies (or pip install requests)",
        file=sys.stderr,
    )
    sys.exit(4)

entry_point()
