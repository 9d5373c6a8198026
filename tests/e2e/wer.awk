# Word error rate of one hypothesis against one reference (both from the
# environment: REF, HYP). Prints "ERRORS REFWORDS": the Levenshtein distance
# over words (substitutions + deletions + insertions) and the reference's
# word count; WER = ERRORS / REFWORDS.
# Normalisation, the same for both: lower case; sentence markers <s> </s>
# and parenthesised tags (an utterance id, an alternative pronunciation
# "word(2)") removed; every character but a-z, 0-9 and the apostrophe is a
# word separator.
function words(s, w) {
    s = tolower(s)
    gsub(/<\/?s>/, " ", s)
    gsub(/\([^()]*\)/, " ", s)
    gsub(/[^a-z0-9']+/, " ", s)
    return split(s, w, " ")
}
function edits(ref, hyp, r, h, prev, cur, nr, nh, i, j, c) {
    nr = words(ref, r)
    nh = words(hyp, h)
    for (j = 0; j <= nh; j++)
        prev[j] = j
    for (i = 1; i <= nr; i++) {
        cur[0] = i
        for (j = 1; j <= nh; j++) {
            c = prev[j - 1] + ((r[i] "") != (h[j] ""))
            if (prev[j] + 1 < c) c = prev[j] + 1
            if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1
            cur[j] = c
        }
        for (j = 0; j <= nh; j++)
            prev[j] = cur[j]
    }
    return prev[nh] " " nr
}
BEGIN { print edits(ENVIRON["REF"], ENVIRON["HYP"]) }
