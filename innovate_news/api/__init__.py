"""The library's face: what the command line, a scheduler or a script calls.

Each function takes loaded settings and returns a result; none prints, prompts or exits.
Heavy parts (the site builder, the email renderer, the providers) are imported by the
function that needs them, so importing this package costs almost nothing.

- `publishing`: load_settings, build, check, check_deliverability, preview, open_preview,
  serve_site, send, send_test, status, ping (WebSub);
- `subscribers`: eligible, suppressions, open_list, import_subscribers, export_subscribers,
  unsubscribe, erase, subject_access, sync_list, serve;
- `state`: clear_cache, backup_state, restore_state;
- `store`: init_store, migrate_store, store_status, copy_store;
- `scheduling`: send_due, schedule_status (issues with send_at, and [email] window).
- `deliverability`: check_deliverability (re-exported by `publishing`).
- `websub`: ping (re-exported by `publishing`).
"""

from innovate_news.api.publishing import (
    build,
    check,
    check_deliverability,
    load_settings,
    open_preview,
    ping,
    preview,
    send,
    send_test,
    serve_site,
    status,
    test_recipients,
)
from innovate_news.api.scheduling import DueRun, schedule_status, send_due
from innovate_news.api.state import backup_state, clear_cache, restore_state
from innovate_news.api.store import copy_store, init_store, migrate_store, store_status
from innovate_news.api.subscribers import (
    Notify,
    eligible,
    erase,
    export_subscribers,
    import_subscribers,
    list_path,
    open_list,
    serve,
    subject_access,
    suppressions,
    sync_list,
    unsubscribe,
)

__all__ = [
    "DueRun",
    "Notify",
    "backup_state",
    "build",
    "check",
    "check_deliverability",
    "clear_cache",
    "copy_store",
    "eligible",
    "erase",
    "export_subscribers",
    "import_subscribers",
    "init_store",
    "list_path",
    "load_settings",
    "migrate_store",
    "open_list",
    "open_preview",
    "ping",
    "preview",
    "restore_state",
    "schedule_status",
    "send",
    "send_due",
    "send_test",
    "serve",
    "serve_site",
    "status",
    "store_status",
    "subject_access",
    "suppressions",
    "sync_list",
    "test_recipients",
    "unsubscribe",
]
