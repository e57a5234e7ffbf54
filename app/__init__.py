"""hyperlaw service shell: settings, database, job queue, worker pool, REST API, reports and CLI.

The only package that knows about HTTP, SQL or processes; it calls the pure libraries
`fitting` (numerics) and `trainer` (torch). Layout:

    main.py        create_app(settings): the first file a reader opens
    settings.py    Settings (pydantic-settings), built once at each entry point
    db/            engine and sessions, tables.py (each table's docstring names its owner), migrations
    studies.py runs.py curves.py fits.py tokens.py    one owner module per table
    law_kinds/     one module per family of laws (loss, optimum, critical batch, frontier) on one
                   protocol, and the registry the API, the fit job and predictions read
    predictions.py the answer of /v1/predict and `hyperlaw predict`, assembled from the law kinds
    specs.py       pure run-spec helpers (no SQL), shared by runs, plan and the CLI
    plan/          experiment design: shape ladder, priors, design
    worker/        the job queue (runs and fits), the run pool, the fit worker, the Ray backend
    api/           deps, errors (domain error -> HTTP in one place), schemas, routes/ per resource
    cli/           the typer app, one module per command group
"""
