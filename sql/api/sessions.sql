-- Closed clickstream sessions, newest first. $1 user id, $2 from, $3 to (session start), NULL = any.
SELECT session_id, user_id, session_start, session_end, duration_secs, events, page_views,
       cart_adds, cart_removes, wishlist_adds, purchases, revenue, converted
FROM sessions
WHERE ($1 IS NULL OR user_id = $1)
  AND ($2 IS NULL OR session_start >= $2)
  AND ($3 IS NULL OR session_start < $3)
ORDER BY session_start DESC, session_id
