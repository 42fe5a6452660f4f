from dataclasses import dataclass


@dataclass
class Order:
    item: str
    quantity: int
    unit_price: float
