#!/usr/bin/env bash
# The compose file's smoke test (CI: .github/workflows/ci.yml): waits for /readyz, signs up through
# the proxy with the OTP read from Mailpit's API, and checks /auth/me. Needs curl and jq.
#   scripts/compose-smoke.sh <hush url> <mailpit url>
set -euo pipefail
hush="${1:-http://localhost:8000}"
mail="${2:-http://localhost:8025}"

for i in $(seq 1 150); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$hush/readyz")" = "200" ]; then break; fi
  if [ "$i" = 150 ]; then echo "Hush never became ready"; exit 1; fi
  sleep 2
done
echo "ready"

email="smoke-$(date +%s)@example.com"
post() { curl -sS -f -X POST "$hush$1" -H "Content-Type: application/json" -d "$2"; }

session_id="$(post /api/v1/auth/signup "{\"email\": \"$email\", \"purpose\": \"signup\"}" | jq -r .session_id)"
otp=""
for i in $(seq 1 30); do
  id="$(curl -sS -G "$mail/api/v1/search" --data-urlencode "query=to:$email" | jq -r '.messages[0].ID // empty')"
  if [ -n "$id" ]; then
    otp="$(curl -sS "$mail/api/v1/message/$id" | jq -r .Text | sed -nE 's/.*verification code is ([0-9]{6}).*/\1/p' | head -1)"
    break
  fi
  sleep 1
done
[ -n "$otp" ] || { echo "no OTP mail for $email"; exit 1; }

temp_token="$(post /api/v1/auth/verify-otp "{\"session_id\": \"$session_id\", \"otp\": \"$otp\"}" | jq -r .temp_token)"
# Any valid Ed25519 public key will do: the README's.
session_token="$(post "/api/v1/auth/complete-signup?temp_token=$temp_token" "{
  \"email\": \"$email\", \"username\": \"smoke_$(date +%s)\", \"full_name\": \"Smoke Test\",
  \"mobile\": \"+919876543210\", \"date_of_birth\": \"2000-01-01\", \"gender\": \"male\",
  \"device_info\": {\"device_id\": \"smoke\", \"device_name\": \"CI\",
                    \"public_key\": \"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}}" | jq -r .session_token)"
me="$(curl -sS -f "$hush/api/v1/auth/me" -H "Authorization: Bearer $session_token" | jq -r .email)"
[ "$me" = "$email" ] || { echo "auth/me answered $me, not $email"; exit 1; }
echo "signed up $email through compose"
