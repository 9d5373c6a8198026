#!/usr/bin/env python3
"""Generate tests/data/sanitize/labelled.jsonl: synthetic, realistic sentences
(support tickets, medical notes, chat, logs, invoices, HR, DevOps) with every
sensitive value marked by type and byte span, plus hard negatives (order
numbers, dates, versions, timestamps, hashes, UUIDs, numbers that fail Luhn
or mod-97).

Values are test values: the card networks' published test numbers plus
Luhn-valid numbers generated here, example IBANs from the IBAN registry plus
ones with computed check digits, fictitious phone numbers (555-01xx, Ofcom's
drama ranges, ...), documentation IP ranges, AWS's documented example keys.

Deterministic (fixed seed): rerunning reproduces the file byte for byte.
Usage: scripts/gen-sanitize-testset.py > tests/data/sanitize/labelled.jsonl
"""
import json
import random
import re
import string
import sys

R = random.Random(20261128)


def luhn_ok(d):
    s = 0
    for i, c in enumerate(reversed(d)):
        v = int(c)
        if i % 2 == 1:
            v *= 2
            if v > 9:
                v -= 9
        s += v
    return s % 10 == 0


def luhn_complete(prefix, length):
    body = prefix + "".join(R.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for c in string.digits:
        if luhn_ok(body + c):
            return body + c
    raise AssertionError


def iban_check(cc, bban):
    s = bban + cc + "00"
    n = int("".join(str(int(c, 36)) for c in s))
    return "%02d" % (98 - n % 97)


def iban_ok(iban):
    s = iban.replace(" ", "")
    s = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in s)) % 97 == 1


def group4(s):
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def fmt_card(d):
    if len(d) == 15:
        return R.choice([d, "%s %s %s" % (d[:4], d[4:10], d[10:]), "%s-%s-%s" % (d[:4], d[4:10], d[10:])])
    if len(d) == 16:
        return R.choice([d, group4(d), "-".join(d[i:i + 4] for i in range(0, 16, 4))])
    return d


# ---- value pools ----------------------------------------------------------------

TEST_CARDS = ["4111111111111111", "4012888888881881", "4242424242424242", "4000056655665556",
              "5555555555554444", "5105105105105100", "5200828282828210", "2223003122003222",
              "378282246310005", "371449635398431", "6011111111111117", "6011000990139424",
              "3530111333300000", "3566002020360505", "6200000000000005", "4222222222222",
              "30569309025904", "38520000023237"]
GEN_CARDS = [luhn_complete(p, 16) for p in ["4", "4", "51", "53", "55", "2221", "6011", "65", "3528"]
             for _ in range(2)] + [luhn_complete(p, 15) for p in ["34", "37"]]
for c in TEST_CARDS + GEN_CARDS:
    assert luhn_ok(c), c

REGISTRY_IBANS = ["GB82 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0130 00",
                  "FR14 2004 1010 0505 0001 3M02 606", "NL91 ABNA 0417 1643 00",
                  "ES91 2100 0418 4502 0005 1332", "IT60 X054 2811 1010 0000 0123 456",
                  "BE68 5390 0754 7034", "CH93 0076 2011 6238 5295 7", "AT61 1904 3002 3457 3201",
                  "SE45 5000 0000 0583 9825 7466", "NO93 8601 1117 947", "DK50 0040 0440 1162 43",
                  "PL61 1090 1014 0000 0712 1981 2874", "IE29 AIBK 9311 5212 3456 78",
                  "FI21 1234 5600 0007 85", "PT50 0002 0123 1234 5678 9015 4",
                  "LU28 0019 4006 4475 0000", "GR16 0110 1250 0000 0001 2300 695",
                  "SA03 8000 0000 6080 1016 7519"]
BBAN_SHAPES = {"DE": "n18", "FR": "n10a11n2", "NL": "a4n10", "GB": "a4n14", "ES": "n20", "AT": "n16",
               "BE": "n12", "CH": "n17", "PL": "n24", "IT": "a1n22"}


def bban(shape):
    out = ""
    for kind, count in re.findall(r"([na])(\d+)", shape):
        pool = string.digits if kind == "n" else string.ascii_uppercase + string.digits
        if kind == "a" and shape.startswith("a"):
            pool = string.ascii_uppercase
        out += "".join(R.choice(pool) for _ in range(int(count)))
    return out


GEN_IBANS = []
for cc, shape in sorted(BBAN_SHAPES.items()):
    for _ in range(2):
        b = bban(shape)
        GEN_IBANS.append(cc + iban_check(cc, b) + b)
for i in REGISTRY_IBANS + GEN_IBANS:
    assert iban_ok(i), i


def iban_value():
    v = R.choice(REGISTRY_IBANS + GEN_IBANS)
    return R.choice([v.replace(" ", ""), group4(v.replace(" ", ""))])


EMAILS = ["jane.doe@example.com", "m.rossi+billing@example.org", "support-team@mail.example.co.uk",
          "j_smith42@corp.example.net", "ANNA.K@EXAMPLE.DE", "li.wei@research.example.edu",
          "noreply@notifications.example.io", "dr.okafor@clinic.example.ng", "p.nowak@example.pl",
          "h.mueller@praxis-example.de", "carlos.garcia@example.es", "sam+test@example.dev",
          "olivia.brown@health.example.gov", "devops-alerts@infra.example.com",
          "tomasz.k@example.eu", "a.b.c@d.example.org", "first.last@sub.domain.example.com"]
PHONES = ["(555) 123-4567", "555-867-0142", "+1 415 555 0132", "1-800-555-0199", "212.555.0147",
          "(212) 555-0198", "+1 (646) 555-0110", "020 7946 0958", "+44 20 7946 0958",
          "01632 960123", "07700 900123", "+44 7700 900456", "+44 (0)20 7946 0018",
          "030 12345678", "+49 30 12345678", "089 1234567", "0151 23456789", "+49 151 23456789",
          "030/1234567", "0049 30 98765432", "01 23 45 67 89", "+33 1 23 45 67 89", "+14155550132",
          "+61 2 9876 5432", "+81 3-1234-5678", "+353 1 234 5678", "06 12 34 56 78"]


def ssn_value():
    while True:
        a, g, s = R.randint(1, 899), R.randint(1, 99), R.randint(1, 9999)
        if a != 666:
            return "%03d-%02d-%04d" % (a, g, s)


IPV4 = ["192.168.1.10", "10.0.0.5", "203.0.113.42", "198.51.100.7", "172.16.254.1", "8.8.8.8",
        "192.0.2.15", "10.12.0.254", "100.64.3.9", "127.0.0.1"]
IPV6 = ["2001:db8::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "fe80::1ff:fe23:4567:890a",
        "::1", "2001:db8:0:0:1::1", "::ffff:192.0.2.128", "2001:db8:abcd:12::7",
        "2606:4700:4700::1111", "fd12:3456:789a:1::42"]


def rand_token(n, alphabet=string.ascii_letters + string.digits):
    while True:
        t = "".join(R.choice(alphabet) for _ in range(n))
        if sum(c.isdigit() for c in t) >= 2 and any(c.isupper() for c in t) and any(c.islower() for c in t):
            return t


def secret_value():
    k = R.randrange(9)
    if k == 0:
        return "sk-proj-" + rand_token(40)
    if k == 1:
        return "ghp_" + rand_token(36)
    if k == 2:
        return "github_pat_11" + rand_token(20) + "_" + rand_token(59)
    if k == 3:
        return "xoxb-%d-%d-%s" % (R.randint(10**9, 10**10), R.randint(10**9, 10**10), rand_token(24))
    if k == 4:
        return "AKIA" + "".join(R.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    if k == 5:
        return "AIza" + rand_token(35, string.ascii_letters + string.digits + "_-")
    if k == 6:
        return "sk_live_" + rand_token(24)
    if k == 7:
        return rand_token(40, string.ascii_letters + string.digits + "+/")
    return "sk-ant-api03-" + rand_token(60)


PEM = ("-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA" + rand_token(40) + "\\n" + rand_token(48)
       + "\\n-----END RSA PRIVATE KEY-----")
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
       + rand_token(43, string.ascii_letters + string.digits + "_-"))

POOLS = {
    "email": lambda: R.choice(EMAILS),
    "phone": lambda: R.choice(PHONES),
    "card": lambda: fmt_card(R.choice(TEST_CARDS + GEN_CARDS)),
    "iban": iban_value,
    "ssn": ssn_value,
    "ipv4": lambda: R.choice(IPV4),
    "ipv6": lambda: R.choice(IPV6),
    "secret": secret_value,
}


# ---- hard negatives (values that must not be reported) --------------------------------

def bad_luhn():
    while True:
        d = "4" + "".join(R.choice(string.digits) for _ in range(15))
        if not luhn_ok(d):
            return R.choice([d, group4(d)])


def bad_iban():
    v = R.choice(REGISTRY_IBANS).replace(" ", "")
    i = R.randrange(5, len(v))
    c = v[i]
    repl = R.choice([d for d in string.digits if d != c]) if c.isdigit() else "X" if c != "X" else "Y"
    w = v[:i] + repl + v[i + 1:]
    assert not iban_ok(w)
    return R.choice([w, group4(w)])


def bad_ssn():
    return R.choice(["000-12-3456", "666-45-1234", "912-34-5678", "923-11-4821", "123-00-4567",
                     "321-45-0000", "078-05-0000"])


NEG = {
    "badcard": bad_luhn,
    "badiban": bad_iban,
    "badssn": bad_ssn,
    "order": lambda: R.choice(["ORD-2024-000123", "#100234", "PO-88231-B", "INV-2025-0042",
                               "order 20240315001", "case 00412345"]),
    "date": lambda: R.choice(["2024-03-15", "15.03.2024", "03/15/2024", "2025-11-02T14:22:31Z",
                              "12 Mar 2024"]),
    "time": lambda: R.choice(["10:22:33", "14:05", "09:30:00.125", "23:59:59"]),
    "version": lambda: R.choice(["v2.14.3", "1.2.3", "version 4.18.2", "12.0.1", "v1.2.3.4",
                                 "release 2024.03.1"]),
    "hash": lambda: R.choice(["3f786850e387550fdab836ed7e6dc881de23001b",
                              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                              "d41d8cd98f00b204e9800998ecf8427e", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
                              "9c1185a5c5e9fc54612808977ee8f548b2258d31"]),
    "uuid": lambda: R.choice(["123e4567-e89b-12d3-a456-426614174000",
                              "f47ac10b-58cc-4372-a567-0e02b2c3d479"]),
    "amount": lambda: R.choice(["$1,249.00", "EUR 3 450,00", "1 234 567", "USD 18,500.75",
                                "£2,340.10"]),
    "badip": lambda: R.choice(["10.0.0.256", "1.2.3.4.5", "999.10.10.10"]),
    "mac": lambda: R.choice(["00:1A:2B:3C:4D:5E", "3c:22:fb:9a:10:07"]),
    "zip": lambda: R.choice(["94105-1234", "SW1A 1AA", "10115"]),
    "ident": lambda: R.choice(["AbstractSingletonProxyFactoryBean", "getUserAccountSettings",
                               "build-20240315-1842", "/var/log/nginx/access.log",
                               "projects/acme/locations/us-central1"]),
}

# ---- templates --------------------------------------------------------------------------
# {type} is a marked value; {neg:kind} an unmarked hard negative.

TEMPLATES = [
    ("support", "Hi, I can't log in. My account email is {email} and my phone is {phone}."),
    ("support", "Please update the billing contact to {email}; the old one bounces."),
    ("support", "Customer called from {phone} about ticket {neg:order}, opened {neg:date}."),
    ("support", "Refund requested for card {card}, order {neg:order}, amount {neg:amount}."),
    ("support", "The customer says the charge on {card} was made twice on {neg:date}."),
    ("support", "Can you call me back at {phone} after {neg:time}? Thanks!"),
    ("support", "I typed my card number {neg:badcard} but the form says it is invalid."),
    ("support", "Ticket {neg:order}: user reports app {neg:version} crashes on start."),
    ("support", "Escalated: {email} cannot reach the portal from {ipv4} since {neg:date}."),
    ("support", "Please send the invoice to {email} and cc {email}."),
    ("support", "Verification failed for SSN {ssn}; customer will call {phone}."),
    ("support", "My new number is {phone}, the old one {phone} no longer works."),
    ("medical", "Patient contact: {phone}, e-mail {email}. Follow-up on {neg:date}."),
    ("medical", "Pt. seen {neg:date} at {neg:time}; insurance ID on file, SSN {ssn}."),
    ("medical", "Referral letter faxed from {phone}; results to {email}."),
    ("medical", "BP 128/82, HR 72, temp 37.1. Next visit {neg:date}. Call {phone} if worse."),
    ("medical", "Lab order {neg:order} for patient with SSN {ssn}, drawn at {neg:time}."),
    ("medical", "Dr. Okafor ({email}) reviewed the MRI from {neg:date}."),
    ("medical", "Prescription renewal requested by phone, {phone}, dosage 20 mg twice daily."),
    ("medical", "Patient reports SSN {neg:badssn} on the intake form; asked for a corrected one."),
    ("chat", "hey, it's me, new number {phone} :)"),
    ("chat", "send it to {email} pls"),
    ("chat", "lol the server at {ipv4} is down again"),
    ("chat", "my IBAN is {iban}, just wire it whenever"),
    ("chat", "use my card {card} for the tickets, I'll pay you back"),
    ("chat", "can u ping me on {phone} or {email}?"),
    ("chat", "meeting moved to {neg:time} tomorrow, room 4.12"),
    ("chat", "we shipped {neg:version} yesterday, changelog in the wiki"),
    ("chat", "the commit is {neg:hash}, can you cherry-pick it?"),
    ("chat", "bank says {neg:badiban} is not a valid IBAN, did I mistype it?"),
    ("logs", "2025-11-02T14:22:31Z INFO request from {ipv4} user={email} status=200"),
    ("logs", "WARN auth failed for {email} from {ipv6} (attempt 3)"),
    ("logs", "ERROR upstream {ipv4}:8443 timed out after 30000 ms"),
    ("logs", "DEBUG token={secret} scope=read"),
    ("logs", "export OPENAI_API_KEY={secret}"),
    ("logs", "config loaded: aws_access_key_id = {secret}"),
    ("logs", "INFO build {neg:hash} deployed to cluster, image digest sha256:{neg:hash}"),
    ("logs", "trace id {neg:uuid} span 4 duration 18 ms"),
    ("logs", "listen on [{ipv6}]:8080 and {ipv4}:8080"),
    ("logs", "client {ipv6} sent 4096 bytes at {neg:time}"),
    ("logs", "INFO ntp sync at {neg:date} {neg:time}, offset 0.003 s"),
    ("logs", "WARN malformed address {neg:badip} in X-Forwarded-For"),
    ("logs", "iface eth0 hwaddr {neg:mac} mtu 1500"),
    ("logs", "GET /api/v2/orders/88213 200 from {ipv4} in 12 ms"),
    ("invoice", "Invoice {neg:order}: please pay {neg:amount} to {iban} by {neg:date}."),
    ("invoice", "Bank details: IBAN {iban}, BIC DEUTDEFF, reference {neg:order}."),
    ("invoice", "Payment received from {iban} on {neg:date}, thank you."),
    ("invoice", "Remit to {iban}; questions to {email} or {phone}."),
    ("invoice", "Card ending 4242 was charged {neg:amount} on {neg:date}."),
    ("invoice", "Charged {neg:amount} to {card} (exp 12/27)."),
    ("invoice", "Our old account {neg:badiban} is closed, use the new one."),
    ("invoice", "Order {neg:order} shipped to ZIP {neg:zip}, total {neg:amount}."),
    ("hr", "New hire: SSN {ssn}, start date {neg:date}, personal email {email}."),
    ("hr", "Payroll: salary to {iban} from next month."),
    ("hr", "Emergency contact for the employee: {phone}."),
    ("hr", "Background check for applicant, SSN {ssn}, phone {phone}."),
    ("devops", "The staging DB is at {ipv4}, replica at {ipv4}."),
    ("devops", "Rotate this key now, it leaked in the PR: {secret}"),
    ("devops", "GITHUB_TOKEN={secret} was printed in the CI log"),
    ("devops", "Slack bot token {secret} belongs to the alerts app."),
    ("devops", "Use the deploy key:\\n{secret}\\nand keep it out of git."),
    ("devops", "Set the header Authorization: Bearer {secret} and retry."),
    ("devops", "Bump the base image to {neg:version} and rebuild {neg:ident}."),
    ("devops", "The class {neg:ident} is deprecated since {neg:version}."),
    ("devops", "Resource {neg:ident} was created by request {neg:uuid}."),
    ("devops", "IPv6 gateway is {ipv6}, DNS {ipv6}."),
    ("devops", "ssh admin@{ipv4} -p 2222 and check the disk."),
    ("ecommerce", "Ship to: 221B Baker Street, London, {neg:zip}; tel. {phone}."),
    ("ecommerce", "Gift card code {neg:order} redeemed; receipt sent to {email}."),
    ("ecommerce", "Tracking number 1Z999AA10123456784, estimated delivery {neg:date}."),
    ("ecommerce", "Customer entered {neg:badcard} at checkout, payment declined."),
    ("banking", "Transfer of {neg:amount} from {iban} to {iban} scheduled for {neg:date}."),
    ("banking", "Standing order to {iban}, reference rent {neg:date}."),
    ("banking", "Disputed transaction on {card}, merchant ref {neg:order}."),
    ("banking", "Account holder phone {phone}, statements to {email}."),
]

NEG_ONLY = [
    "Release {neg:version} fixes the crash reported on {neg:date} at {neg:time}.",
    "The checksum of the archive is {neg:hash}.",
    "Request {neg:uuid} finished with status 200 in 35 ms.",
    "Total due: {neg:amount}, invoice {neg:order}, due {neg:date}.",
    "Card number {neg:badcard} failed validation.",
    "The IBAN {neg:badiban} has a wrong check digit.",
    "SSN {neg:badssn} is not a valid number.",
    "Config parse error at line 14: address {neg:badip} out of range.",
    "Switch port 12 learned MAC {neg:mac}.",
    "Package {neg:version} depends on openssl 3.0.11.",
    "The meeting is on {neg:date} at {neg:time} in room B-204.",
    "Temperature readings: 21.5, 22.0, 22.4 degrees over 3 hours.",
    "Order {neg:order} contains 3 items and ships from warehouse 7.",
    "Please review {neg:ident} before {neg:date}.",
    "Kernel 6.1.0-18-amd64 booted in 4.2 s.",
    "The population grew from 1 234 567 to 1 301 220 between 2010 and 2020.",
    "ISBN 978-3-16-148410-0 is out of print.",
    "Coordinates 48.8566, 2.3522 mark the meeting point.",
]


# Written by hand, values marked [[type|value]]: formats and contexts the
# templates do not cover.
HANDWRITTEN = [
    ("support", "Reach me at [[phone|+1-202-555-0173]] (mobile) or [[email|kim.lee@example.kr]]."),
    ("support", "Tel.: [[phone|+49 (0)30 901820]] - Fax: [[phone|+49 30 9018 2111]]"),
    ("support", "Phone: [[phone|(020) 7946 0321]], please avoid calling before 9."),
    ("support", "Contact:[[email|billing@example.fr]],[[phone|+33 6 12 34 56 78]]"),
    ("support", "He wrote <[[email|x.y@example.com]]> in the To: field."),
    ("support", "Ticket 48213 reopened; version 3.2.1 still shows the error 0x80070005."),
    ("medical", "Callback number for the family: [[phone|07700 900 982]]."),
    ("medical", "MRN 004-221-883 is not the SSN; the SSN is [[ssn|219-09-9999]]."),
    ("medical", "Dosage 2.5 mg, 0.5 ml at 08:00 and 20:00, review in 14 days."),
    ("chat", "my ip is [[ipv4|81.2.69.160]] if you need to whitelist it"),
    ("chat", "pls transfer 50 EUR to [[iban|NL02ABNA0123456789]] thx"),
    ("chat", "card is [[card|4000 0566 5566 5556]] exp 09/28 cvc on the back lol"),
    ("chat", "I got 1234 5678 9012 3456 from the generator, is that a real card?"),
    ("chat", "the wifi password is hunter2, don't tell anyone"),
    ("logs", "sshd[1234]: Accepted publickey for deploy from [[ipv6|2001:db8:1::ab9:C0A8:102]] port 52144"),
    ("logs", "nginx: upstream timed out (110) while connecting to [[ipv4|10.20.30.40]]:9000"),
    ("logs", "kernel: eth0: link up 1000 Mbps, 10.0.0.0/8 route added"),
    ("logs", "audit: user=[[email|root@host.example.net]] cmd=/usr/bin/passwd"),
    ("logs", "Authorization header present, api_key=[[secret|AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY]]"),
    ("logs", "git remote set-url origin https://[[secret|ghp_R2D2C3POr2d2c3poR2D2C3POr2d2c3poAB12]]@github.com/acme/app.git"),
    ("logs", "checksum ok: sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ("logs", "job 7f3c2a1e finished at 2025-01-07 03:14:15.926 UTC"),
    ("invoice", "IBAN: [[iban|GB33BUKB20201555555555]] Sort code 20-20-15 Account 55555555"),
    ("invoice", "Bankverbindung: [[iban|DE75 5121 0800 1245 1261 99]], BIC SOGEDEFFXXX"),
    ("invoice", "VAT ID DE123456789, tax no. 12/345/67890, invoice date 01.02.2025."),
    ("invoice", "Amount 1.234,56 EUR, customer no. 100200300, order 4471-2291-0093."),
    ("hr", "SSN: [[ssn|536 90 4399]] (spaces as on the card), DOB 1984-06-02."),
    ("hr", "Employee ID 000123456, badge 7781, extension 4417."),
    ("devops", "AWS creds: [[secret|AKIAI44QH8DHBEXAMPLE]] / [[secret|je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY]]"),
    ("devops", "curl -H 'Authorization: Bearer [[secret|sk-live-4eC39HqLyjWDarjtT1zdp7dc]]' https://api.example.com"),
    ("devops", "docker pull registry.example.com/app@sha256:9b2f1c7a0e3d4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"),
    ("devops", "Listening on [[ipv6|::1]] and [[ipv4|127.0.0.1]], port 5432."),
    ("devops", "Commit 1a2b3c4 bumps lodash from 4.17.20 to 4.17.21."),
    ("devops", "The build id is 20250107.3 and the run number 4567."),
    ("banking", "Wire from [[iban|CH56 0483 5012 3456 7800 9]] received, ref 2025-0113."),
    ("banking", "Virement vers [[iban|FR76 3000 6000 0112 3456 7890 189]] effectué."),
    ("banking", "Amex [[card|3714 496353 98431]] declined for amount $89.00."),
    ("banking", "Diners card [[card|3056 9309 0259 04]] on file for corporate travel."),
    ("negative", "Call extension 4417 or room 2.104 after 14:30."),
    ("negative", "Our office moved to 1600 Amphitheatre Parkway, Mountain View, CA 94043."),
    ("negative", "Serial number SN-4111-1111-1111-1111 is printed on the device."),
    ("negative", "Page 12 of 340, figure 3.2.1, table 10.4."),
    ("negative", "The session key is derived with HKDF-SHA256 and never leaves memory."),
    ("negative", "Reference DE00 0000 0000 0000 0000 00 is a placeholder in the form."),
]


def render_marked(text):
    out, ents, pos = b"", [], 0
    for m in re.finditer(r"\[\[([a-z0-9]+)\|(.*?)\]\]", text):
        out += text[pos:m.start()].encode()
        v = m.group(2).encode()
        ents.append({"type": m.group(1), "start": len(out), "end": len(out) + len(v)})
        out += v
        pos = m.end()
    out += text[pos:].encode()
    return out.decode(), ents


def render(tpl):
    text, ents = b"", []
    for part in re.split(r"(\{[a-z0-9:]+\})", tpl):
        m = re.fullmatch(r"\{([a-z0-9]+)(?::([a-z0-9]+))?\}", part)
        if not m:
            text += part.encode().replace(b"\\n", b"\n")
            continue
        if m.group(1) == "neg":
            text += NEG[m.group(2)]().encode()
            continue
        kind = m.group(1)
        v = PEM if kind == "secret" and "\\n{secret}\\n" in tpl else POOLS[kind]()
        if kind == "secret" and "Bearer" in tpl and R.random() < 0.5:
            v = JWT
        v = v.replace("\\n", "\n").encode()
        ents.append({"type": kind, "start": len(text), "end": len(text) + len(v)})
        text += v
    return text.decode(), ents


def main():
    rows = []
    for rep in range(4):
        for domain, tpl in TEMPLATES:
            rows.append((domain, tpl))
    for rep in range(3):
        for tpl in NEG_ONLY:
            rows.append(("negative", tpl))
    out = sys.stdout
    for domain, text in HANDWRITTEN:
        rows.append((domain, "=" + text))
    for i, (domain, tpl) in enumerate(rows):
        text, ents = render_marked(tpl[1:]) if tpl.startswith("=") else render(tpl)
        # offsets are in bytes of the UTF-8 text (the text is ASCII)
        out.write(json.dumps({"id": i + 1, "domain": domain, "text": text, "entities": ents},
                             ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
