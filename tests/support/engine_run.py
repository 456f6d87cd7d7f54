"""What the engine tests against hostile servers share: loopback settings and a sink that keeps names."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from image_downloader.model import DownloadedImage
from image_downloader.settings import DownloadSettings

LOOPBACK = DownloadSettings(
    bucket_name="b",
    table_name="t",
    allow_private_addresses=True,
    connect_timeout_seconds=5,
    read_timeout_seconds=5,
    time_budget_margin_seconds=1,
)


def loopback(**changes: Any) -> DownloadSettings:
    return replace(LOOPBACK, **changes)


class KeptUrls:
    """Keeps the requested and the final URL of every image stored."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.final_urls: list[str] = []

    def store(self, image: DownloadedImage) -> None:
        self.urls.append(image.url)
        self.final_urls.append(image.final_url)
