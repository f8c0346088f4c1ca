"""«Состояние отправки»: the queue, the last day by the hour, slow and failing senders, and
the workers (SPEC §17)."""
from __future__ import annotations

from ..models.outbox import STATUS_LABELS
from ..services.operations_status import figures
from ..services.operations_status import heartbeat_limit as _heartbeat_limit
from .helpers import admin_required, render_page

#: The chart's drawing box in SVG units.
CHART_WIDTH, CHART_HEIGHT, BAR_GAP = 720, 160, 4


@admin_required
def index():
    """The page (or, for HTMX's periodic refresh, its body)."""
    current = figures()
    peak = max([sent + failed for _, sent, failed in current.hours] + [1])
    step = CHART_WIDTH / len(current.hours)
    bars = []
    for number, (hour, sent, failed) in enumerate(current.hours):
        sent_height = CHART_HEIGHT * sent / peak
        failed_height = CHART_HEIGHT * failed / peak
        bars.append({"x": round(number * step + BAR_GAP / 2, 1),
                     "width": round(step - BAR_GAP, 1), "hour": hour, "sent": sent,
                     "failed": failed,
                     "sent_y": round(CHART_HEIGHT - sent_height, 1),
                     "sent_height": round(sent_height, 1),
                     "failed_y": round(CHART_HEIGHT - sent_height - failed_height, 1),
                     "failed_height": round(failed_height, 1)})
    return render_page("portal_smtp/admin/status/page.html",
                       "portal_smtp/admin/status/_body.html",
                       figures=current, bars=bars, peak=peak, status_labels=STATUS_LABELS,
                       chart={"width": CHART_WIDTH, "height": CHART_HEIGHT},
                       silent_after=int(_heartbeat_limit().total_seconds()))
