"""LINE WORKS (API 2.0) calendar driver: ``drivers.lineworks.calendar:LineWorksCalendar``.

Beside the driver: ``auth`` (service-account JWT and token cache), ``client`` (HTTP, retries,
paging), ``api`` (calendar endpoints), ``validation`` (documented body rules), ``mapping`` /
``recurrence`` / ``timerange`` (LINE WORKS objects <-> shared calendar models) and
``settings``. Rate limiting, retries and the ``connected`` state come from
``drivers.vendor_client``.
"""
