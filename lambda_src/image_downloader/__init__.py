"""Lambda handlers of the serverless image downloader.

One package, one zip, three functions:
- ``image_downloader.batch.handler``: validate the request and split it into batches;
- ``image_downloader.download.handler``: download one batch, store and record every image;
- ``image_downloader.consolidate.handler``: merge the batch results into one report.
"""
