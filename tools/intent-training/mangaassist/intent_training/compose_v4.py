"""Write the ``v4`` training batch of ``data/intents.jsonl``: ``python -m mangaassist.intent_training.compose_v4``.

Fourth session (2026-11-29). Same method as ``compose_v3`` (whose slot lists, noise and
multi-intent helpers it reuses): phrase lists written by hand here, one **family** per
idea, composed deterministically with a fixed seed. The families answer the confusions
that grouped cross-validation on the **train** split (folds by family; the test split was
not read) still showed after ``v3``:

- "if I order today, when does it arrive?" and other questions asked *before* ordering
  (``shipping_info``) read as the customer's own order (``order_status``), and the other
  way round: my preorder's ship date, a parcel returned to sender, my parcel's carrier;
- the three product intents: what a box set or special edition contains, content warnings,
  "good for beginners?", "worth it?" (``product_question``) versus "do you have / carry /
  is it out yet" and title-unknown searches (``product_search``) versus rankings, "A or B,
  which first?", "what else did this author write", "what next after X"
  (``product_recommendation``);
- out of scope next to the store's words: health, games, streaming, voice actors, other
  shops, translation, riddles, gibberish;
- a missing bonus or a wrong item (``return_refund``), card brands (``payment``), one-word
  escalations, "what can you do" greetings.

Re-running rewrites only the ``v4`` lines (fixed seed); other batches are left untouched.
"""

from __future__ import annotations

from collections.abc import Iterator

from mangaassist.intent_training.compose_v3 import compose_batch, parse, write_batch

BATCH = "v4"
SEED = 20261130

# Family lines: ``key: paraphrase || paraphrase``; ``!`` plain (no openers/noise), ``~`` romaji.
SOURCE: dict[str, str] = {
    "shipping_info": """
before_order_eta_ja: 今から注文すると何日くらいで届きますか || 平日の昼に頼んだらいつ頃着く？ || 注文してから届くまで普通何日かかる？ || これから買うんですが、東京だと最短いつ届きますか
before_order_eta_en: if i buy now how many days until it gets here? || ordering tonight - earliest it could reach osaka? || how soon do things usually arrive after you order? || thinking of ordering, how fast is delivery to tokyo
before_order_deadline_ja: 金曜までに届けてほしいんだけど、何時までに注文すればいい？ || 誕生日が日曜なんですが、今日頼んで間に合いますか || 今週末に欲しいなら、いつまでに買えば間に合う？
before_order_deadline_en: whats the cutoff time for same day dispatch? || need it by sunday for a gift, if i place it today will it make it? || what time do i have to order by to get it tomorrow
before_order_mixed: 今orderしたらいつ届く？ || same day shippingって何時までに注文すれば対応？ || express deliveryだと何日で届きますか || 明日delivery可能ですか？これから買います
before_order_romaji: ima chuumon shitara itsu todoku? || ashita made ni todokimasu ka, kore kara kaimasu || nannichi de todokimasu ka
tracking_policy: 追跡番号ってどの配送方法でもつきますか || are tracking numbers included with standard shipping? || メール便でも追跡できる？ || does every shipment get a tracking link or only express
holiday_shipping: 年末年始って発送してますか？ || お盆期間中も配送やってる？ || do you ship during golden week? || are deliveries delayed over new year
preorder_policy: 予約商品と在庫商品を一緒に頼むと発送はどうなりますか || if i preorder something and add an in-stock book, do they ship together or separately? || 予約品って発売日に届くように発送してくれるの？
customs_rules: {c}に送る場合、関税はこちらで払うんですか || do i pay import duties if i order to {c}? || {cj}向けの発送って関税かかりますか
packaging: 梱包ってダンボールですか？本が折れないか心配 || how do you pack books, bubble wrap or just an envelope? || 中身が外からわからないように梱包してもらえる？
carriers_general: 配送業者はどこを使ってますか || which courier do you normally ship with? || 佐川とヤマトどっちで来るの？これから注文するので
""",
    "order_status": """
my_preorder_date_ja: 予約してる{t}の{v}巻、発送日決まりましたか || 先月予約した{t}、いつ発送されますか || 予約注文{o}の発送予定日を教えて || 予約した分って発売日当日に発送してもらえてますか
my_preorder_date_en: my preorder for {t} vol {v} - has a ship date been set? || when will my {t} preorder actually ship || preordered {t} {v} last month, is it still on track for release day || order {o} is a preorder, when does it go out
my_preorder_mixed: 予約した{t}のstatus知りたい || 私のpreorderいつshipされる？ || {o}のpreorder、発売日に届く？
returned_to_sender: 荷物が差出人に返送されたって表示になってる || 不在で持ち戻りになって、そのまま返送されたみたいです。{o}どうなりますか || the tracking says my order is returning to the warehouse, what now? || my package {o} got sent back to you, can you ship it again
my_carrier: 注文{o}、どの配送会社で送った？ || which carrier is my order {o} with? || うちに来る荷物、ヤマト？佐川？追跡したい || what courier did you use for my parcel, i want to track it
tracking_broken: 追跡番号を入れても該当なしって出ます || the tracking number you sent says not found || tracking hasn't updated in 4 days for {o} || 追跡が3日間「発送準備中」のまま止まってる
stuck_status: 注文ステータスがずっと「処理中」なんですが || my order has said processing for a week, is it stuck? || {o}、まだ「準備中」のまま。いつ出荷？
arrival_my_order_ja: 昨日頼んだ本、いつ届きますか || 一昨日注文した{t}、今日届く？ || 注文した本まだ？明日までに欲しいんだけど
arrival_my_order_en: i ordered yesterday, when will mine arrive? || placed an order on monday, any idea when it gets here || ordered {t} 3 days ago, eta?
romaji_o3: yoyaku shita hon wa itsu hassou saremasu ka || chuumon shita hon ga mada todokanai || tsuiseki bangou wo oshiete kudasai
""",
    "product_question": """
bonus_what2: {t}の限定版って何がついてくるんですか || {t} {v}巻の特装版、おまけの中身は？ || {t}の初回版の特典ってどんなの？ || what comes with the {t} vol {v} special edition? || what's the bonus item in the limited {t}
obi_band: {t}の{v}巻、帯ありますか？中古でも気になるので || {t} {v}巻って帯つきで届く？ || does {t} vol {v} ship with the obi band || will my copy of {t} have the obi strip
listing_lang2: この{t}の商品ページ、英語版？日本語版？ || この{t} {v}巻って日本語で書かれてますか || is this {t} listing the english translation or japanese || the {t} vol {v} on this page - which language is it in
sequel_spin: {t}ってスピンオフある？ || {t}の続編って何ていうタイトル？ || is there a sequel or spin-off to {t}? || does {t} continue in another series
reading_dir: {t}の英語版って左開き？右開き？ || {t}の翻訳版は日本と同じ読む向き？ || is the english {t} flipped or right-to-left || do i read {t} right to left
chapters_in: {t}の{v}巻って何話から何話まで？ || {t} {v}巻には第何話が入ってる？ || which chapters does {t} vol {v} cover || what chapter does {t} vol {v} start at
boxset_contents: {t}のBOXセットって収納ボックスつき？ || {t}全巻セット、帯や特典はついてくる？ || does the {t} box set come in a case or just shrink wrapped? || what exactly do you get in the {t} collector's box
special_bonus: {t}の特装版は何が付属してる？ || {t} {v}巻の限定版の付録ってなに？ || what does the {t} vol {v} limited edition include? || is the {t} special edition bonus a booklet or a figure?
edition_diff: {t}の完全版と通常版って何が違うの？ || {t}の新装版、カラーページ増えてる？ || whats the difference between the {t} deluxe and the normal volumes? || does the {t} omnibus have the same content as the singles?
content_warning_ja: {t}ってグロい描写多い？ || {t}は残酷なシーンありますか、子供に読ませたくて || {t}って鬱展開ある？ || {t}、エロい描写ある？中学生の息子用です
content_warning_en: how violent is {t}? || is {t} ok for a {n} year old? any nudity? || does {t} have a lot of gore || is {t} super depressing or is it ok
beginner_q: {t}って漫画あまり読まない人でもわかる？ || {t}は初めて漫画を読む人には難しい？ || is {t} easy to follow if ive never read manga? || would {t} confuse someone new to manga
worth_q: {t}って最後まで読む価値ある？ || {t}の後半って面白い？評判どうですか || is {t} worth finishing or does it fall off? || does {t} get good after volume {v}?
series_facts_ja: {t}って何巻で完結？ || {t}の作者って誰？ || {t}って連載まだ続いてる？ || {t}の出版社ってどこ？
series_facts_en: how many volumes is {t}? || who wrote {t}? || is {t} still ongoing? || who publishes {t} in english
kana_q2: {tk}ってかんけつしてる？ || {tk}って なんかんで おわる？ || {tk}の さくしゃ だれ？
romaji_q3: {tr} wa nankan made aru? || {tr} wa kanketsu shite imasu ka || {tr} no sakusha wa dare desu ka
physical_q: {t}の{v}巻って何ページ？ || {t}のサイズはB6？A5？ || what size are the {t} volumes? || is {t} vol {v} hardcover or paperback
""",
    "product_search": """
have_short2: {t}ってありますか？ || {t}あります？ || {t}の在庫ある？ || {t}買える？ || do you have {t}? || {t} in stock?
out_yet_buy: {t}の{v}巻って出てますか？買いたいです || {t}の新刊もう発売されてる？あれば買う || is {t} vol {v} released? want to get it || has the new {t} come out yet, id like a copy
full_run: {t}って全巻在庫ありますか || {t}を1巻から全部買いたいんだけど揃ってる？ || can i get every volume of {t} from you || is the whole {t} series available
title_unknown2_ja: 昔読んだ漫画を探してます。タイトルが思い出せないけど、猫が喋るやつ。売ってますか || うろ覚えなんですが、将棋の少年が主人公の漫画ってありますか、買いたいです || 題名わからないんだけど、表紙に赤い傘の女の子がいる漫画、在庫ある？
title_unknown2_en: trying to find a manga i read as a kid, a boy with a robot cat, do you sell it? || cant remember the title, its about a chef in a fantasy world. do you have it? || searching for a manga, forgot the name, the one with the girl and the giant on the cover - do you stock it
carry_short_ja: {t}扱ってますか？ || {t}って売ってますか || {t}の{v}巻、在庫ありますか || {t}置いてあります？
carry_short_en: do you carry {t}? || is {t} sold here? || you guys stock {t}? || {t} vol {v} available?
released_buy: {t}の{v}巻ってもう買える？ || {t}の最新刊、もう店頭に出てますか || is {t} vol {v} out yet? i want to buy it || can i already buy the new {t}
english_ed_buy: {t}の英語版、何巻まで置いてますか || do you sell {t} in english, all volumes? || {t}のEnglish editionある？
set_buy: {t}の全巻セットって買えますか || {t} 全巻 在庫ある？ || can i buy the complete {t} set here? || {t} complete set in stock?
cheapest2: {t}の1巻、いちばん安いのはいくら？ || how much is {t} volume 1 at your store || {t}の{v}巻の値段は？ || price for {t} vol {v}?
goods2: {t}のポスター売ってる？ || {t}のクリアファイルありますか || any {t} keychains? || do you have the {t} official guidebook
romaji_s3: {tr} no {v} kan arimasu ka || {tr} zenkan setto utte masu ka || {tr} no eigoban arimasu ka
mixed_s3: {t}のvol.{v}ありますか？ || {t}のbox set在庫ある？ || {t}の新刊もうin stock？
""",
    "product_recommendation": """
trending2: 今なにが流行ってる漫画？ || 最近バズってる漫画教えて || what manga is everyone reading right now || hot new series this season?
travel_read: 長い移動中に読む漫画ほしい、おすすめある？ || 入院中の暇つぶしに読める漫画教えて || something to binge on a long train ride? || need manga for a week-long vacation, ideas?
a_or_b_first_ja: {t}と{t2}、どっちから読むのがおすすめ？ || {t}か{t2}で迷ってます。どっちが好みに合いそう？ホラー好きです || {t}と{t2}どっち買おうか迷ってる、おすすめは？ || {t}と{t2}ならどっちが面白いと思いますか
a_or_b_first_en: {t} or {t2}, which should i start with? || torn between {t} and {t2}, which would you pick? || {t} vs {t2} - which one should i buy first || which is better for a beginner, {t} or {t2}?
a_or_b_mixed: {t}と{t2}、which one読むべき？ || {t} or {t2}、どっちがおすすめ？ || {t}と{t2}どっちがbetter？
ranking: 今人気の漫画ベスト5教えて || 最近話題になってる漫画ってなにがある？ || what's trending in manga right now? || what are your best selling manga this week
author_more: {t}の作者の他の作品でおすすめある？ || {t}描いた人の別の漫画も読みたい、何がいい？ || loved {t}, what else by the same mangaka should i read || any other works from the {t} author you'd recommend
after_finish: {t}読み終わっちゃった。次に読むべき漫画は？ || {t}ロスがつらい、似た雰囲気のある？ || just finished {t}, what should i read next? || finished all of {t}, need something to fill the void
complete_budget: {p}円で全巻買える完結漫画を教えて || 全巻揃えても安い、短めの完結作品ある？ || complete series under {p} yen total? suggestions? || any finished series i can buy in full for about ¥{p}
bare_genre2: {g}でなにかいいのある？ || {g}読みたい。おすすめは？ || any {g} recs? || looking for some good {g}
learn_jp: 日本語の勉強用に読みやすい漫画教えて || manga for japanese learners, N4ish? || what manga is easy japanese for a beginner learner
romaji_r3: {tr} mitai na manga oshiete || {g2r} no osusume wa? || nani ka omoshiroi manga aru?
""",
    "return_refund": """
bonus_missing2: 特典のしおりが同梱されていませんでした。送ってもらえますか || 限定版なのに付録が入っていなかったので交換してほしい || the limited edition i got was missing the bonus art card, can you send it || no bonus booklet in my special edition, i want it replaced
wrong_vol2: {t}の{v}巻を頼んだら{v2}巻が来ました。交換してください || 届いた本が注文したものと違う、どうすればいい？ || got the wrong volume of {t}, need an exchange || you sent me {t2} instead of {t}, how do i swap it
defect2: {t}の{v}巻、印刷がかすれてて読めないページがある || カバーが破れてた。交換できますか || {t} vol {v} has pages stuck together and torn, refund please || the cover of {t} arrived creased, can i exchange it
""",
    "payment": """
double_charge2: 同じ注文で2回請求されてます || クレカに2重で請求来てる || i got billed twice for one order || my card shows two charges for the same order
saved_card2: 保存したクレジットカードを消したい || 登録カードを別のカードに変えたい || how do i remove my saved card || want to update the card on file
paid_error: 決済エラーと出たのに引き落とされてた || 購入できなかったのに請求だけ来ました || payment failed but the money left my account || checkout errored but i was still charged
tax_price: 表示価格って税込みですか？ || 海外在住だと消費税は免除？ || are prices shown with tax included || do overseas buyers pay japanese consumption tax
brands2: {b}って使えますか？ || {b}で払えますか || can i pay with {b}? || do you take {b}
student_coupon: 学生割引ってありますか || クーポンコードの入力欄どこ？ || any student discount? || where do i enter a promo code
""",
    "escalation": """
apology_not_refund: 返金はいらないので、ちゃんと謝ってほしい。責任者を || お金の問題じゃない、上の人と話したい || not about money, i want a manager to explain what happened || i dont need a refund, i need to speak to someone responsible
ignored: 何度も問い合わせてるのに返事がない || メールしたのに3日放置されてる、どうなってるの || ive emailed three times and nobody answers || your support ignored my ticket for a week
contact_channel: サポートの電話番号を教えて || 問い合わせ窓口のメールアドレスは？ || whats your customer service phone number || how do i reach your support team by email
kana_human: たんとうしゃ おねがい || にんげんの ひと いますか || おぺれーたーさん よんで || せきにんしゃ だして
~romaji_e3: operetaa ni tsunaide || hito to hanashitai desu || tantou no kata wo onegai shimasu
!short_human: オペレーター || 担当者 || human please || agent || 人間 || real person || operator pls || 有人対応
stop_bot2: ボットはもういいです || もうAIとは話したくない || stop the bot, person please || this bot is useless, get me someone
""",
    "greeting": """
!capabilities: 何ができるの？ || なにを手伝ってくれるの？ || what can you help with? || what do you do? || what kind of questions can i ask
!smalltalk2: 元気ですか？ || こんばんは、今日も寒いですね || how are you today? || nice to meet you! || hey, whats up
!acks2: おけ || 了解です！ || thx! || 👍 || got it || わかりました、ありがとう
!thanks_bye: ありがとう、助かりました || 了解、ありがと〜 || ok got it thanks || cool thanks bye || おつかれさまです
""",
    "out_of_scope": """
anime_facts2: {t}のアニメってどこの制作会社？ || {t}のアニメ3期っていつ放送？ || {t}のアニメの主題歌なに？ || what studio made the {t} anime || when does {t} season 2 air
char_trivia2: {ch}って何歳？ || {ch}と{ch2}どっちが強い？ || how tall is {ch}? || who would win, {ch} or {ch2}
word_meaning: 「推し」ってどういう意味？ || 「ツンデレ」の意味を教えて || what does tsundere mean || what does isekai mean in english
calc_conv: 3500円って何ドル？ || 15%オフっていくら？計算して || whats 25 times 17 || how many yen is 20 euros
events2: 次のコミケの日程は？ || ジャンプフェスタっていつ？ || when is anime expo this year || 原画展のチケットってどこで買える？
health2: 熱があるんだけど病院行くべき？ || 肩こりがひどい、何かいい方法ある？ || my back hurts, what should i do || any tips for sleeping better
game_anime2: {t}のゲームって面白い？ || {t}のアニメ、何期まである？ || is the {t} anime on netflix || {t}のアニメの声優って誰？
other_shop: 近くの本屋さんって何時まで開いてる？ || メルカリで売るならいくらになる？ || what time does kinokuniya close || is there a manga cafe near shinjuku
gibberish2: あああああ || zzz || ？？？ || 😂😂 || てすと || test
translate2: 「よろしく」って英語でなんて言う？ || translate this to japanese: see you tomorrow || 韓国語で「こんにちは」は？ || how do you say thank you in french
riddles_chat: しりとりしよう || tell me a fun fact || 占いして || play twenty questions with me
piracy2: {t}をタダで読めるサイト教えて || where can i read {t} for free online || {t}の違法アップロードってどこにある？
""",
}


def compose(existing: set[str]) -> Iterator[dict[str, str]]:
    # Decorated from the second half of a family's paraphrases on (v3: from the second).
    return compose_batch(
        parse(SOURCE), BATCH, SEED, existing, decorate_from=lambda family: len(family.paraphrases) // 2
    )


def main() -> int:
    return write_batch(BATCH, compose)


if __name__ == "__main__":
    raise SystemExit(main())
