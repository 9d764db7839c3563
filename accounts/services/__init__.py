"""The identity write paths: who holds what is changed here and only here.

- ``identities``: API clients, employees, access groups (the rules every identity write shares:
  administer the tenant, nothing beyond your own, no take-over, nobody changes their own
  access, temporary rights make nothing that outlasts them).
- ``temporary_access``: temporary grants, requests and break-glass.
- ``reviews``: access reviews (snapshot and decisions).
"""
