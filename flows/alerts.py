"""How a failed run tells people: its Failed state says the pipeline's own message, and a webhook is called.

``make alerts WEBHOOK=https://...`` (``python -m baro_flows.alerts URL``) saves the webhook as the
Prefect block ``baro-alerts`` on the server the API URL points at; from then on every failed or
crashed run of the flows posts :func:`alert_payload` to it. Without that block, failures are only
shown in the Prefect UI.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect.blocks.webhook import Webhook
from pydantic import SecretStr
from prefect.logging.loggers import flow_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Failed

from baro_pipeline.errors import BaroError

ALERT_BLOCK = "baro-alerts"


P = ParamSpec("P")
R = TypeVar("R")


def failed_state_on_pipeline_error(fn: Callable[P, R]) -> Callable[P, R | State[Any]]:
    """Turn a :class:`BaroError` raised by a flow into a Failed state whose message is the error's own.

    When a flow raises, Prefect 3 writes "Flow run encountered an exception: ExportError: ..." as the
    state message. Returning the state instead keeps the pipeline's words, and the exception stays
    the state's data: a flow called directly (``baro run``) still raises it, so the CLI's exit codes
    are unchanged. Put it under ``@flow`` (``functools.wraps`` keeps the parameters Prefect reads).
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | State[Any]:
        try:
            return fn(*args, **kwargs)
        except BaroError as exc:
            return Failed(message=exc.message, data=exc)

    return wrapper


def alert_payload(flow_name: str, flow_run: Any, state: Any) -> dict[str, Any]:
    """The JSON posted on a failure: which flow run, in which state, and why — never respondent data."""
    params = flow_run.parameters or {}
    edition = params.get("edition_id") or ", ".join(params.get("editions") or ())
    return {
        # Chat webhooks (Slack, Mattermost, Teams workflows) show "text"; other receivers read the fields.
        "text": f"{flow_name} {edition}: {state.name} ({flow_run.name})\n{state.message}",
        "flow": flow_name,
        "edition": edition,
        "flow_run_name": flow_run.name,
        "flow_run_id": str(flow_run.id),
        "state": state.name,
        "message": state.message,
    }


async def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure`` / ``on_crashed`` hook: post the alert to the ``baro-alerts`` webhook, if one is set."""
    logger = flow_run_logger(flow_run, flow)
    try:
        webhook: Webhook = await Webhook.aload(ALERT_BLOCK)
    except ValueError:
        logger.info(f"no '{ALERT_BLOCK}' webhook block: the failure is only in the Prefect UI (see `make alerts`)")
        return
    response = await webhook.call(alert_payload(flow.name, flow_run, state))
    response.raise_for_status()
    logger.info(f"alert sent to the '{ALERT_BLOCK}' webhook")


def save_alert_block(url: str) -> None:
    Webhook(url=SecretStr(url)).save(ALERT_BLOCK, overwrite=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].startswith(("http://", "https://")):
        print("usage: python -m baro_flows.alerts https://your.webhook/url  (or: make alerts WEBHOOK=URL)", file=sys.stderr)
        return 2
    save_alert_block(argv[0])
    print(f"failed runs now post to the webhook block '{ALERT_BLOCK}'")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
