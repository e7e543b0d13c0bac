"""Authorization: SMART scopes, access tokens and their signing keys, and the access policy
the repository enforces. The authorization server that issues tokens lives in
``platform_core.oauth``; people and their sign-in in ``platform_core.identity``."""
