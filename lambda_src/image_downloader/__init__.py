"""Lambda handlers of the serverless image downloader: one package, one zip, five functions.

Where each concern lives (imports go one way: no module imports one that imports it, directly or not,
and no part of the engine or the batch step imports a handler; tests/test_package_layout.py):

- handlers: ``batch`` (validate, split into batches in S3), ``download`` (one batch of the Map),
  ``consolidate`` (merge batch results into the report), ``status`` (GET /executions/{name}),
  ``notify`` (executions that ended unsuccessfully); ``cli`` (the engine on the command line);
- the batch step: ``request`` (field checks), ``path_sources`` (resourcePaths / resourcePathsFrom),
  ``problems`` (collecting InvalidInput messages), ``reruns`` (skipExisting, retryFailuresOf);
- the download engine: ``engine`` (orchestration), ``fetch`` (HTTP transport, redirects),
  ``body`` (spooling, size and content checks), ``retry`` (retry policy), ``timelimit`` (per-batch
  budget, per-image stopwatch), ``netguard`` (which addresses may be reached), ``content`` (image
  formats), ``encoding`` (Content-Encoding), ``model`` (data shapes, the sink protocol), ``workers``
  (the download threads, kept between batches);
- storage and layout: ``storage`` (S3 + DynamoDB, folder and discard sinks), ``keys`` (S3 keys,
  metadata), ``urls`` (canonical URLs), ``runs`` (an execution's working data in S3);
- shared: ``settings`` (environment variables), ``errors``, ``redact`` (masking secrets), ``logs``
  (what and how the handlers log), ``failure_lines`` (failures as a person reads them).
"""
