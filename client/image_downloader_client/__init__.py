"""Client of the image downloader's HTTP API: start a download, follow it, fetch its report.

Installed with ``pip install <repository>``; the console script is ``image-downloader``.
"""

__version__ = "0.1.0"
