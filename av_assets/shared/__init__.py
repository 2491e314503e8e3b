"""Code several domains share, not a domain of its own (no EXTENSION): the bag container decoders
(`bag_containers`: MCAP, ROS 2 sqlite3, ROS 1) that ingest, sync and redaction read bronze with, and
the re-verification of a bronze drive (`bronze_verify`) that `av verify` and lineage audits run.

Tables are not shared through here: a domain reads another's data through `av_contracts.tables`.
"""
