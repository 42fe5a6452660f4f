from dataclasses import dataclass
from claw_nb.records import record


@record
class Order:
    item: str
    quantity: int
    unit_price: float
