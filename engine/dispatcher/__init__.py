"""The dispatcher: reacts to the log, turning runnable jobs into work items.

It follows lifecycle events on `JOBS` with a durable consumer (`consumer.py`) and acks each
after its reaction is stored. Every reaction (`reactions.py`, children's in `children.py`) is
idempotent (deterministic child ids, deduplicated work items, `decide` refusing repeats), so a
redelivered event changes nothing.
"""

from engine.dispatcher.consumer import Dispatcher as Dispatcher
from engine.dispatcher.core import DISPATCHER as DISPATCHER
from engine.dispatcher.core import open_dependents as open_dependents
