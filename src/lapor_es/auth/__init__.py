"""Who is knocking at the door: principals and their bearer tokens, reporter access codes,
and the authorization policy that derives every command's actor from the caller.

Shared by the HTTP door (lapor_es.api) and the `lapor-es principals` command; it imports the
domain's values, the command names and the views, nothing of the infrastructure above them.
"""
