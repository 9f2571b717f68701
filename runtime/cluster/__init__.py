"""Several hosts, one Redis: membership, ownership, leases, the shared status store, routing.

Only used with `cluster:` in the config; a single host never imports Redis code paths.
"""
