"""Response bodies with Binance's field names and string-encoded numbers (as ccxt's fixtures show them)."""

from __future__ import annotations

from decimal import Decimal

from gridbot_exchange.data import Market
from gridbot_exchange.matching import Order, Trade


def s8(d: Decimal) -> str:
    return f"{d:.8f}"


def order(o: Order, symbol: str) -> dict[str, object]:
    return {
        "symbol": symbol,
        "orderId": o.id,
        "orderListId": -1,
        "clientOrderId": o.client_id,
        "price": s8(o.price),
        "origQty": s8(o.qty),
        "executedQty": s8(o.executed),
        "cummulativeQuoteQty": s8(o.cum_quote),
        "status": o.status,
        "timeInForce": "GTC",
        "type": o.type,
        "side": o.side,
        "stopPrice": s8(Decimal(0)),
        "icebergQty": s8(Decimal(0)),
        "time": o.time_ms,
        "updateTime": o.update_ms,
        "isWorking": True,
        "workingTime": o.time_ms,
        "origQuoteOrderQty": s8(Decimal(0)),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def order_ack(o: Order, symbol: str, fills: list[Trade]) -> dict[str, object]:
    """POST /order with newOrderRespType FULL (the default for LIMIT and MARKET)."""
    full = order(o, symbol)
    for k in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking"):
        del full[k]
    full["transactTime"] = o.time_ms
    full["fills"] = [
        {
            "price": s8(t.price),
            "qty": s8(t.qty),
            "commission": s8(t.commission),
            "commissionAsset": t.commission_asset,
            "tradeId": t.id,
        }
        for t in fills
    ]
    return full


CANCEL_FIELDS = (
    "price", "origQty", "executedQty", "origQuoteOrderQty", "cummulativeQuoteQty", "status", "timeInForce",
    "type", "side", "selfTradePreventionMode",
)  # fmt: skip


def cancel(o: Order, symbol: str, cancel_id: str) -> dict[str, object]:
    """DELETE /order (and each row of DELETE /openOrders) as Binance answers it: `clientOrderId` is the
    cancel's own id, the order's id is in `origClientOrderId`."""
    full = order(o, symbol)
    return {
        "symbol": symbol,
        "origClientOrderId": o.client_id,
        "orderId": o.id,
        "orderListId": -1,
        "clientOrderId": cancel_id,
        "transactTime": o.update_ms,
        **{k: full[k] for k in CANCEL_FIELDS},
    }


def trade(t: Trade, symbol: str) -> dict[str, object]:
    return {
        "symbol": symbol,
        "id": t.id,
        "orderId": t.order_id,
        "orderListId": -1,
        "price": s8(t.price),
        "qty": s8(t.qty),
        "quoteQty": s8(t.quote_qty),
        "commission": s8(t.commission),
        "commissionAsset": t.commission_asset,
        "time": t.time_ms,
        "isBuyer": t.is_buyer,
        "isMaker": t.is_maker,
        "isBestMatch": True,
    }


def symbol_info(m: Market) -> dict[str, object]:
    return {
        "symbol": m.symbol,
        "status": m.status,
        "baseAsset": m.base,
        "baseAssetPrecision": 8,
        "quoteAsset": m.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": s8(m.tick),
                "maxPrice": "1000000.00000000",
                "tickSize": s8(m.tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": s8(m.min_qty),
                "maxQty": "9000.00000000",
                "stepSize": s8(m.step),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": s8(m.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }
