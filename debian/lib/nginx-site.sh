# Shell functions shared by flaskapp's postinst and prerm (sourced, POSIX sh).
# They enable and disable the flaskapp nginx site the way Debian packages do:
# only where the admin has not decided otherwise, and never leaving nginx with a
# configuration that fails `nginx -t`.

FLASKAPP_NGINX=/etc/nginx
# Marks what the package itself changed, so that only that is undone later.
FLASKAPP_MARKS=/var/lib/flaskapp/nginx

flaskapp_nginx_check() {
    # Prints nginx's complaint and fails when the configuration is invalid.
    if ! out=$(nginx -t 2>&1); then
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        return 1
    fi
}

flaskapp_nginx_reload() {
    # Reloads nginx if it runs; a stopped nginx picks the configuration up when started.
    if systemctl is-active --quiet nginx.service 2>/dev/null; then
        deb-systemd-invoke reload nginx.service
    else
        echo "flaskapp: nginx is not running; the site is served once it is started"
    fi
}

flaskapp_site_enable() {
    # Enables the site on first install (no previous version in $1) or after the
    # package's own remove; an admin who removed the link keeps it removed. Disables
    # Debian's default site with it, as the tutorial does, and remembers that for purge.
    previous_version="$1"
    mkdir -p "$FLASKAPP_MARKS"
    if [ -n "$previous_version" ] && [ ! -e "$FLASKAPP_MARKS/site-disabled-by-remove" ]; then
        return 0
    fi
    rm -f "$FLASKAPP_MARKS/site-disabled-by-remove"
    if [ ! -e "$FLASKAPP_NGINX/sites-enabled/flaskapp" ] && [ ! -L "$FLASKAPP_NGINX/sites-enabled/flaskapp" ]; then
        ln -s ../sites-available/flaskapp "$FLASKAPP_NGINX/sites-enabled/flaskapp"
        echo "flaskapp: enabled nginx site $FLASKAPP_NGINX/sites-enabled/flaskapp"
    fi
    if [ -L "$FLASKAPP_NGINX/sites-enabled/default" ]; then
        rm "$FLASKAPP_NGINX/sites-enabled/default"
        touch "$FLASKAPP_MARKS/default-disabled-by-install"
        echo "flaskapp: disabled nginx's default site (it comes back when flaskapp is purged)"
    fi
}

flaskapp_site_disable() {
    # Takes the site out of nginx when the package is removed; remembers it for a reinstall.
    if [ -L "$FLASKAPP_NGINX/sites-enabled/flaskapp" ]; then
        rm "$FLASKAPP_NGINX/sites-enabled/flaskapp"
        mkdir -p "$FLASKAPP_MARKS"
        touch "$FLASKAPP_MARKS/site-disabled-by-remove"
        echo "flaskapp: disabled nginx site $FLASKAPP_NGINX/sites-enabled/flaskapp"
    fi
}

flaskapp_site_configure() {
    # postinst configure: enable the site if due, then reload nginx, but only onto a
    # configuration that passes `nginx -t`; otherwise nginx keeps serving the old one.
    previous_version="$1"
    if ! flaskapp_nginx_check; then
        echo "flaskapp: nginx's configuration is invalid (see above); flaskapp changed nothing" >&2
        echo "flaskapp: and nginx keeps serving its previous configuration. Fix it, then run" >&2
        echo "flaskapp: 'dpkg --configure -a'." >&2
        return 1
    fi
    flaskapp_site_enable "$previous_version"
    if ! flaskapp_nginx_check; then
        flaskapp_site_disable
        echo "flaskapp: nginx rejects the flaskapp site (see above), so it was disabled again;" >&2
        echo "flaskapp: nginx keeps serving its previous configuration. Fix" >&2
        echo "flaskapp: $FLASKAPP_NGINX/sites-available/flaskapp, then run 'dpkg --configure -a'." >&2
        return 1
    fi
    flaskapp_nginx_reload
}
