"""Deterministic answers (route ``none``) and the shop documents that ground FAQ answers.

The shop's policies are data the answer must quote, not something a model invents.
"""

from __future__ import annotations

from typing import Any

FIXED_REPLIES: dict[str, dict[str, str]] = {
    "greeting": {
        "ja": "こんにちは！MangaAssistです。作品探し、おすすめ、ご注文や配送のご質問など、お気軽にどうぞ。",
        "en": "Hi! I'm MangaAssist. Ask me for recommendations, a specific title, or about orders and shipping.",
    },
    "escalation": {
        "ja": "ご不便をおかけして申し訳ありません。担当スタッフにおつなぎします。受付時間は平日10時〜18時、"
        "お問い合わせフォームからも承ります。",
        "en": "I'm sorry about the trouble. I'm handing this conversation to our support staff "
        "(weekdays 10:00-18:00 JST); you can also reach them through the contact form.",
    },
    "out_of_scope": {
        "ja": "申し訳ありません、MangaAssistはマンガのご購入に関するご質問にお答えしています。作品探しやご注文についてお尋ねください。",
        "en": "Sorry, I can only help with shopping for manga here: titles, recommendations, orders and shipping.",
    },
    "clarify": {
        "ja": "すみません、ご質問の内容を確認させてください。作品をお探しですか？それともご注文・配送についてのご質問ですか？",
        "en": "Sorry, could you tell me a bit more? Are you looking for a title, or asking about an order or shipping?",
    },
    "order_status_ask_id": {
        "ja": "ご注文状況をお調べします。ご注文番号（例: 123-4567890-1234567）を教えてください。",
        "en": "I can check that for you. What is your order number (e.g. 123-4567890-1234567)?",
    },
    # An order question with no number to give ("I don't have the number"): where to find it.
    "order_number_help": {
        "ja": "ご注文番号は、ご注文確認メールと、アカウントの「注文履歴」に記載されています（例: 123-4567890-1234567）。番号をお送りいただければ、状況をお調べします。",
        "en": "Your order number is in your order confirmation email and under Account > Order history (e.g. 123-4567890-1234567). Send it here and I'll check the status.",
    },
    "order_unknown": {
        "ja": "ご注文番号 {order_id} は、お客様のアカウントでは見つかりませんでした。番号と、ログインしているアカウントをご確認ください。",
        "en": "I couldn't find order {order_id} on your account. Please check the number and that you are signed in.",
    },
}

ORDER_STATUS: dict[str, dict[str, str]] = {
    "processing": {"ja": "ただいま発送準備中です", "en": "is being prepared for shipping"},
    "shipped": {"ja": "発送済みです", "en": "has shipped"},
    "delivered": {"ja": "お届け済みです", "en": "was delivered"},
    "cancelled": {"ja": "キャンセルされています", "en": "was cancelled"},
}


# The parts of an order's status answer, per language.
ORDER_TEXT: dict[str, dict[str, str]] = {
    "item": {"ja": "{title}×{qty}", "en": "{title} x{qty}"},
    "item_sep": {"ja": "、", "en": ", "},
    "head": {"ja": "ご注文 {order_id}（{items}）は{status}。", "en": "Order {order_id} ({items}) {status}."},
    "shipped": {
        "ja": "配送業者: {carrier}、お問い合わせ番号: {tracking}、お届け予定: {eta}。",
        "en": " Carrier: {carrier}, tracking number {tracking}, expected {eta}.",
    },
    "processing": {"ja": "お届け予定日は{eta}です。", "en": " Expected delivery: {eta}."},
}


def order_reply(order: dict[str, Any], language: str) -> str:
    """The deterministic status answer for one of the customer's own orders."""
    lang = "ja" if language == "ja" else "en"
    text = {part: by_language[lang] for part, by_language in ORDER_TEXT.items()}
    state = str(order.get("status"))
    items = text["item_sep"].join(text["item"].format(title=i["title"], qty=i["qty"]) for i in order.get("items", []))
    status = ORDER_STATUS.get(state, {}).get(lang, state)
    reply = text["head"].format(order_id=order["order_id"], items=items, status=status)
    if state == "shipped" and order.get("carrier"):
        reply += text["shipped"].format(carrier=order["carrier"], tracking=order["tracking"], eta=order["eta"])
    elif state == "processing" and order.get("eta"):
        reply += text["processing"].format(eta=order["eta"])
    return reply


# Shop policy snippets per FAQ intent, in both languages.
DOCUMENTS: dict[str, dict[str, list[str]]] = {
    "shipping_info": {
        "ja": [
            "国内配送: 3,000円以上のご注文は送料無料、それ未満は全国一律350円です。",
            "通常、ご注文から1〜3営業日でお届けします。在庫切れの商品は入荷後の発送です。",
            "海外配送: 一部の国・地域へEMSで発送します（送料はご注文時に表示）。",
        ],
        "en": [
            "Domestic shipping is free on orders of ¥3,000 or more; otherwise a flat ¥350 anywhere in Japan.",
            "Orders usually arrive in 1-3 business days; out-of-stock items ship when they come in.",
            "International shipping goes by EMS to selected countries; the fee is shown at checkout.",
        ],
    },
    "payment": {
        "ja": [
            "お支払い方法: クレジットカード（Visa/Mastercard/JCB/Amex）、コンビニ払い、PayPay、代金引換。",
            "コンビニ払いはご注文から3日以内にお支払いください。期限を過ぎると自動キャンセルになります。",
            "カードが通らない場合は、有効期限とご登録住所をご確認のうえ、別の方法もお試しください。",
        ],
        "en": [
            "We accept credit cards (Visa, Mastercard, JCB, Amex), convenience-store payment, PayPay and cash on delivery.",
            "Convenience-store payments must be made within 3 days of ordering or the order is cancelled.",
            "If a card is declined, check its expiry date and billing address, or try another method.",
        ],
    },
    "return_refund": {
        "ja": [
            "未開封の商品は到着後14日以内であれば返品できます。「注文履歴」から返品をお申し込みください。",
            "落丁・乱丁・配送中の破損は、到着後30日以内なら送料当店負担で交換または返金します。",
            "返金は商品到着の確認後、5営業日以内に元のお支払い方法へ行います。",
        ],
        "en": [
            "Unopened items can be returned within 14 days of delivery; start a return from Order History.",
            "Misprinted or damaged items are exchanged or refunded at our cost within 30 days of delivery.",
            "Refunds go back to the original payment method within 5 business days of receiving the item.",
        ],
    },
    "account": {
        "ja": [
            "パスワードを忘れた場合は、ログイン画面の「パスワードをお忘れの方」から再設定できます。",
            "メールアドレスや住所の変更は「アカウント設定」から行えます。",
            "退会をご希望の場合は「アカウント設定」→「退会手続き」からお手続きください。",
        ],
        "en": [
            "Forgot your password? Use 'Forgot password' on the sign-in page to reset it.",
            "Change your email address or delivery addresses under Account Settings.",
            "To close your account, go to Account Settings and choose 'Close account'.",
        ],
    },
}


def fixed_reply(intent: str, language: str, order_id: str | None, abstained: bool, action: str = "") -> str:
    """The deterministic answer for a ``none`` route (``order_id`` as the intent service found it;
    ``action`` as it resolved the turn: an order question it answers with no number says where
    the number is, one it asks the number for asks)."""
    lang = "ja" if language == "ja" else "en"
    if abstained:
        return FIXED_REPLIES["clarify"][lang]
    if intent == "order_status":
        if order_id is None:
            return FIXED_REPLIES["order_number_help" if action == "answer" else "order_status_ask_id"][lang]
        return FIXED_REPLIES["order_unknown"][lang].format(order_id=order_id)
    return FIXED_REPLIES.get(intent, FIXED_REPLIES["out_of_scope"])[lang]


def clarify_series_reply(titles: list[str], language: str) -> str:
    """Ask which of several series the customer meant, by name."""
    names = list(dict.fromkeys(titles))
    if language == "ja":
        return "どちらの作品でしょうか？ " + "、".join(f"「{t}」" for t in names)
    options = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    return f"Which one do you mean: {options}?"


def documents_for(intent: str, language: str) -> list[str]:
    return DOCUMENTS.get(intent, {}).get("ja" if language == "ja" else "en", [])
