"""flaskapp-site: the platform's own operations on the host (the app's CLI is /usr/bin/flaskapp).

It applies /etc/flaskapp/site.conf: the nginx site's names and default-server role, and
nginx's port in the host firewall. The maintainer scripts call it too, so an admin's
`flaskapp-site apply` and an upgrade do exactly the same thing.
"""
