from image_downloader_client.cli import entry_point

entry_point()
