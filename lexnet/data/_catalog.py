"""The synthetic generator's applications: ``provider.app`` names, each with its protocol family.

Each list is in popularity order (most flows first). The generator takes the first classes of each list and
interleaves them so that the class mix follows the paper's Table 2 (169 TCP and 34 UDP classes by default).
"""

from __future__ import annotations

__all__ = ["FAMILY_TRANSPORT", "TCP_APPS", "UDP_APPS"]

# Protocol family -> transport. The families' packet patterns live in lexnet.data._families.
FAMILY_TRANSPORT: dict[str, str] = {
    "web": "tcp",
    "video": "tcp",
    "social": "tcp",
    "messaging": "tcp",
    "cloud": "tcp",
    "update": "tcp",
    "music": "tcp",
    "mail": "tcp",
    "api": "tcp",
    "conferencing": "tcp",
    "gaming": "tcp",
    "quic": "udp",
    "voip": "udp",
    "game-udp": "udp",
    "dns": "udp",
    "vpn": "udp",
    "p2p": "udp",
}

_TCP = """
google.youtube video        meta.facebook social        google.search web          meta.instagram social
netflix.netflix video       meta.whatsapp messaging     google.gmail mail          bytedance.tiktok video
microsoft.outlook mail      apple.icloud cloud          amazon.shopping web        google.ads api
microsoft.office web        x.twitter social            google.drive cloud         spotify.spotify music
microsoft.teams conferencing apple.push api             amazon.primevideo video    snap.snapchat social
google.analytics api        microsoft.windows-update update meta.messenger messaging google.maps web
amazon.aws api              microsoft.onedrive cloud    apple.appstore update      telegram.telegram messaging
google.play update          disney.disneyplus video     microsoft.bing web         amazon.twitch video
reddit.reddit social        akamai.cdn web              cloudflare.cdn web         meta.graph api
zoom.zoom conferencing      apple.music music           microsoft.linkedin social  google.docs web
dropbox.dropbox cloud       pinterest.pinterest social  apple.tv video             discord.discord messaging
yahoo.mail mail             microsoft.github web        google.photos cloud        amazon.alexa api
valve.steam update          fastly.cdn web              wikimedia.wikipedia web    tencent.wechat messaging
openai.chatgpt web          apple.software-update update ebay.ebay web             google.meet conferencing
warner.max video            disney.hulu video           slack.slack messaging      paypal.paypal web
microsoft.xbox-live gaming  google.firebase api         apple.imessage messaging   amazon.music music
microsoft.azure api         yahoo.search web            cisco.webex conferencing   signal.signal messaging
adobe.creative-cloud cloud  alibaba.aliexpress web      epic.store update          meta.threads social
baidu.search web            google.calendar web         uber.uber api              booking.booking web
deezer.deezer music         vimeo.vimeo video           mozilla.firefox-update update apple.maps web
yandex.search web           microsoft.skype messaging   airbnb.airbnb web          riot.lol-client gaming
tencent.qq messaging        soundcloud.soundcloud music sony.psn gaming            line.line messaging
google.translate web        mozilla.telemetry api       dailymotion.dailymotion video alibaba.taobao web
disney.espn video           salesforce.salesforce web   atlassian.jira web         notion.notion web
yahoo.news web              vk.vk social                tumblr.tumblr social       shopify.shopify web
ea.app update               blizzard.battlenet update   nintendo.eshop update      valve.steam-community gaming
mega.mega cloud             wetransfer.wetransfer cloud box.box cloud              adobe.acrobat web
yandex.music music          yandex.disk cloud           kakao.kakaotalk messaging  viber.viber messaging
bbc.iplayer video           bbc.news web                cnn.cnn web                nytimes.nytimes web
duolingo.duolingo api       quora.quora web             alibaba.alipay api         baidu.netdisk cloud
tencent.video video         bytedance.capcut web        atlassian.confluence web   google.news web
apple.news web              google.chrome-update update google.classroom web      microsoft.sharepoint cloud
epic.fortnite-lobby gaming  twitch.chat messaging       tidal.tidal music          pandora.pandora music
roku.roku video             plex.plex video             paramount.paramountplus video peacock.peacock video
crunchyroll.crunchyroll video bilibili.bilibili video    iqiyi.iqiyi video          naver.search web
naver.line-works messaging  samsung.cloud cloud         samsung.update update      huawei.appgallery update
xiaomi.mi-cloud cloud       oracle.cloud api            ibm.cloud api              stripe.stripe api
twilio.twilio api           zendesk.zendesk web         hubspot.hubspot web        mailchimp.mailchimp mail
proton.mail mail            fastmail.fastmail mail      gmx.mail mail              zoho.mail mail
canva.canva web             figma.figma web             miro.miro web              trello.trello web
grammarly.grammarly api     deepl.deepl web             steam.workshop update      unity.ads api
appsflyer.appsflyer api     criteo.criteo api           taboola.taboola api        outbrain.outbrain api
doubleverify.dv api         newrelic.newrelic api       datadog.datadog api        sentry.sentry api
cloudflare.workers api      fastly.compute api          akamai.download update     gitlab.gitlab web
bitbucket.bitbucket web     docker.hub update           npm.registry update        pypi.pypi update
ubuntu.archive update       debian.mirror update        anaconda.anaconda update   jetbrains.toolbox update
"""

_UDP = """
google.youtube-quic quic    google.search-quic quic     meta.whatsapp-call voip    meta.instagram-quic quic
zoom.zoom-media voip        microsoft.teams-media voip  google.meet-media voip     meta.facebook-quic quic
apple.facetime voip         riot.valorant game-udp      epic.fortnite game-udp     google.dns dns
discord.voice voip          cloudflare.quic quic        activision.callofduty game-udp cloudflare.dns dns
valve.cs2 game-udp          telegram.voip voip          snap.snapchat-quic quic    ea.apex-legends game-udp
signal.call voip            cisco.webex-media voip      tencent.pubg-mobile game-udp microsoft.minecraft game-udp
cloudflare.warp vpn         mullvad.wireguard vpn       nord.nordlynx vpn          bittorrent.utp p2p
quad9.dns dns               supercell.clashroyale game-udp blizzard.overwatch game-udp line.call voip
microsoft.skype-call voip   viber.call voip
"""


def _parse(table: str) -> tuple[tuple[str, str], ...]:
    words = table.split()
    return tuple(zip(words[0::2], words[1::2], strict=True))


TCP_APPS: tuple[tuple[str, str], ...] = _parse(_TCP)
UDP_APPS: tuple[tuple[str, str], ...] = _parse(_UDP)
