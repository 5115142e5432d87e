"""In-app notices for staff: the bell in the top bar and the list at /staff/notices/.

Notices are created by the outbox (channel ``notice``, ``motcua.notify`` decides who gets
which); this package only shows them and marks them read.
"""
