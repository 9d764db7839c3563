"""The identity side of the API: the base of every tenant API view (``base``), the token
endpoint (``token``) and bearer-token authentication (``authentication``), the audit API of
access changes and reviews (``audit``), its URLs (``urls``) and the OpenAPI description of the
authentication (``schema``)."""
