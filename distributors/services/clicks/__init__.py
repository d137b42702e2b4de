"""Clicks on share links (`GET /s/{code}`): resolve the code, count page views and unique
visitors per link per day, and move the counts into the daily statistics.

One module per concern (import what you need from the module that defines it; this package
re-exports nothing):

* visitors.py — who is counted: visitor ids and the signed `fx_vid` cookie;
* entries.py  — resolving a code to a LinkEntry, its caches and their invalidation;
* store.py    — Redis: the client, key names (one hash tag per shard) and the Lua scripts;
* counts.py   — set-based SQL upserts of counts, and the database path of a click;
* buffer.py   — write-behind: the per-process buffer and its sender thread;
* record.py   — `click_record`, choosing the write-behind, synchronous-Redis or database path;
* flush.py    — `click_counters_flush`, the beat job moving Redis counters into the database.

The answer of `/s/{code}` itself (cookies, binding) is distributors/services/short_links.py.
"""
