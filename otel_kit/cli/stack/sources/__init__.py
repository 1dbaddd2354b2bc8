"""Where ``otel-kit stack install`` gets each binary, and proof of it.

- ``versions``: every pinned version (releases, Go modules, docker-compose images), in one place
- ``settings``: ``OTEL_KIT_STACK_SOURCE``, ``OTEL_KIT_RELEASE_MIRROR``, the platform archives are chosen for
- ``releases``: each project's archive and checksum-file names and formats
- ``download``: the release host probe, resumable downloads with progress, SHA-256 verification
- ``unpack``: the binaries (or the UI's folder) out of a verified archive, nothing else
- ``origin``: ``bin/<binary>.source.json`` records, and whether Jaeger serves its real UI
"""
