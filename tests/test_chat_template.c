/* Chat templates against transformers' apply_chat_template.
 *
 * tests/fixtures/chat_<name>.json (scripts/gen-chat-fixtures.py) hold the
 * conversations of each family, the text and token ids transformers gave for
 * them with the official template and SmolLM2's vocabulary plus the family's
 * special tokens, and the facts esft reads from a template (a ChatML default
 * system turn). The official templates are not committed: this test builds
 * the same vocabulary as a GGUF with a template of its own of the family,
 * carrying those facts (and add_bos_token set, so a second BOS would show),
 * detects the family, formats each conversation and compares text byte for
 * byte and ids exactly.
 *
 * Detection is checked on templates written here, not copied from any
 * model: each carries the markers of a family's templates, or of a layout
 * esft refuses. Hand-derived cases cover what the reference templates
 * cannot (Gemma's system folding, refusals). */
#include <cjson/cJSON.h>
#include <string.h>

#include "chat_template.h"
#include "checkpoint.h"
#include "testutil.h"

static const char *g_model_dir;

static cJSON *read_json(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/%s", ESFT_TEST_DATA_DIR, name);
    size_t len;
    char *text = test_read_file(path, &len);
    CHECKF(text != NULL, "cannot read %s", path);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECKF(!text || j != NULL, "%s is not JSON", path);
    free(text);
    return j;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void check_format(const esft_chat_template *t, const esft_chat_message *m, int n, bool gen,
                         const char *want) {
    char *got = NULL;
    esft_err err = {{0}};
    esft_status st = esft_chat_format(t, m, n, gen, &got, &err);
    CHECKF(!st && strcmp(got, want) == 0, "%s: got [%s] want [%s]", esft_chat_family_name(t->family),
           got ? got : err.msg, want);
    free(got);
}

static void check_refused(const esft_chat_template *t, const esft_chat_message *m, int n, const char *msg) {
    char *got = NULL;
    esft_err err = {{0}};
    esft_status st = esft_chat_format(t, m, n, true, &got, &err);
    CHECKF(st == ESFT_ERR_INVALID_ARG && strstr(err.msg, msg), "%s: want a refusal with '%s', got [%s]",
           esft_chat_family_name(t->family), msg, got ? got : err.msg);
    free(got);
}

/* ------------------------------------------------------------ our templates */

/* Jinja written for this test. The pieces that the fixtures reuse are
 * macros; a ChatML default system turn goes between CHATML_SYSTEM_OPEN and
 * CHATML_SYSTEM_CLOSE. */
#define CHATML_LOOP                                                                                     \
    "{% for turn in messages %}<|im_start|>{{ turn.role }}\n{{ turn.content }}<|im_end|>\n{% endfor %}" \
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
#define CHATML_SYSTEM_OPEN "{% if messages[0].role != 'system' %}<|im_start|>system\n"
#define CHATML_SYSTEM_CLOSE "<|im_end|>\n{% endif %}"
#define LLAMA3_TEMPLATE                                                                                   \
    "{{ bos_token }}{% for turn in messages %}<|start_header_id|>{{ turn.role }}<|end_header_id|>\n\n" \
    "{{ turn.content | trim }}<|eot_id|>{% endfor %}"                                                    \
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
#define GEMMA_NO_SYSTEM_TEMPLATE                                                                          \
    "{{ bos_token }}{% for turn in messages %}{% if turn.role == 'system' %}"                           \
    "{{ raise_exception('this template has no system role') }}{% endif %}"                               \
    "<start_of_turn>{{ 'model' if turn.role == 'assistant' else 'user' }}\n{{ turn.content | trim }}"   \
    "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
/* esft reads the separator from the first_user_prefix assignment */
#define GEMMA_FOLDING_TEMPLATE(SEPARATOR_LITERAL)                                                        \
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"                                            \
    "{% set first_user_prefix = messages[0]['content'] + " SEPARATOR_LITERAL " %}"                        \
    "{% set turns = messages[1:] %}{% else %}{% set first_user_prefix = '' %}"                           \
    "{% set turns = messages %}{% endif %}{% for turn in turns %}"                                       \
    "<start_of_turn>{{ 'model' if turn['role'] == 'assistant' else 'user' }}\n"                          \
    "{{ (first_user_prefix if loop.first else '') ~ turn['content'] | trim }}<end_of_turn>\n"           \
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
#define MISTRAL_TEMPLATE                                                                                  \
    "{% set system_text = messages[0].content if messages[0].role == 'system' else none %}"             \
    "{{ bos_token }}{% for turn in messages if turn.role != 'system' %}{% if turn.role == 'user' %}"     \
    "[INST]{% if system_text is not none and loop.last %}{{ system_text }}\n\n{% endif %}"             \
    "{{ turn.content }}[/INST]"                                                                          \
    "{% else %}{{ turn.content }}{{ eos_token }}{% endif %}{% endfor %}"

typedef struct own_template {
    const char *name;   /* the layout it imitates */
    const char *family; /* what esft must detect; "" refused */
    const char *jinja;
    const char *fact;   /* what esft must read from it: the default system
                           turn (chatml) or the system separator (gemma);
                           NULL: not checked */
} own_template;

static const own_template OWN_TEMPLATES[] = {
    {"ChatML, one loop", "chatml", CHATML_LOOP, ""},
    {"ChatML with a default system turn in plain text", "chatml",
     CHATML_SYSTEM_OPEN "Answer in one short sentence." CHATML_SYSTEM_CLOSE CHATML_LOOP,
     "Answer in one short sentence."},
    {"ChatML with a default system turn in a string literal", "chatml",
     "{%- if not messages or messages[0]['role'] != 'system' -%}"
     "{{- '<|im_start|>system\\nYou help with arithmetic.\\nShow each step.<|im_end|>\\n' -}}{%- endif -%}"
     "{%- for turn in messages -%}{{- '<|im_start|>' ~ turn['role'] ~ '\\n' ~ turn['content'] ~ "
     "'<|im_end|>\\n' -}}{%- endfor -%}",
     "You help with arithmetic.\nShow each step."},
    {"ChatML whose system turn comes only from the conversation", "chatml",
     "{% for turn in messages %}{% if turn.role == 'system' %}"
     "{{ '<|im_start|>system\\n' + turn.content + '<|im_end|>\\n' }}{% else %}"
     "{{ '<|im_start|>' + turn.role + '\\n' + turn.content + '<|im_end|>\\n' }}{% endif %}{% endfor %}",
     ""},
    {"ChatML with a reasoning block", "chatml",
     "{% for turn in messages %}{% set body = turn.content.split('</think>')[-1] if turn.role == "
     "'assistant' else turn.content %}<|im_start|>{{ turn.role }}\n{{ body }}<|im_end|>\n{% endfor %}"
     "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}",
     NULL},
    {"ChatML with tool calls on a Llama 3 vocabulary", "chatml",
     "<|begin_of_text|>{% for turn in messages %}<|im_start|>{{ turn.role }}\n"
     "{% for call in turn.tool_calls or [] %}<tool_call>{{ call | tojson }}</tool_call>\n{% endfor %}"
     "{{ turn.content }}<|im_end|>\n{% endfor %}",
     NULL},
    {"Llama 3, BOS from bos_token", "llama3", LLAMA3_TEMPLATE, NULL},
    {"Llama 3, BOS written out", "llama3",
     "<|begin_of_text|>{%- for t in messages -%}{{ '<|start_header_id|>' ~ t['role'] ~ "
     "'<|end_header_id|>\\n\\n' ~ t['content'].strip() ~ '<|eot_id|>' }}{%- endfor -%}"
     "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif -%}",
     NULL},
    {"Llama 3.1 style, with a knowledge date preamble", "",
     "{{ bos_token }}<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
     "{{ knowledge_cutoff }}\n{{ system_text }}<|eot_id|>{% for turn in conversation %}"
     "<|start_header_id|>{{ turn.role }}<|end_header_id|>\n\n{{ turn.content | trim }}<|eot_id|>{% endfor %}",
     NULL},
    {"Llama 3 headers without <|eot_id|>", "",
     "{% for turn in messages %}<|start_header_id|>{{ turn.role }}<|end_header_id|>\n{{ turn.content }}"
     "<|end_of_text|>{% endfor %}",
     NULL},
    {"Gemma 2 style, no system role", "gemma", GEMMA_NO_SYSTEM_TEMPLATE, "\n\n"},
    {"Gemma 3 style, system text folded into the first user turn", "gemma",
     GEMMA_FOLDING_TEMPLATE("'\\n\\n'"), "\n\n"},
    {"Gemma, folded with one newline in double quotes", "gemma", GEMMA_FOLDING_TEMPLATE("\"\\n\""), "\n"},
    {"Mistral v3-tekken style", "mistral", MISTRAL_TEMPLATE, NULL},
    {"Mistral v1 style, a space after [INST]", "",
     "{{ bos_token }}{% for turn in messages %}{% if turn.role == 'user' %}[INST] {{ turn.content }} [/INST]"
     "{% else %} {{ turn.content }}{{ eos_token }}{% endif %}{% endfor %}",
     NULL},
    {"Mistral v7 style, a [SYSTEM_PROMPT] block", "",
     "{{ bos_token }}{% if messages[0].role == 'system' %}[SYSTEM_PROMPT]{{ messages[0].content }}"
     "[/SYSTEM_PROMPT]{% endif %}{% for turn in messages %}{% if turn.role == 'user' %}"
     "[INST]{{ turn.content }}[/INST]{% endif %}{% endfor %}",
     NULL},
    {"Llama 2 style, a <<SYS>> block", "",
     "{% for turn in messages %}{% if turn.role == 'user' %}[INST]{% if loop.first and system_text %}"
     "<<SYS>>\n{{ system_text }}\n<</SYS>>\n\n{% endif %}{{ turn.content }}[/INST]{% endif %}{% endfor %}",
     NULL},
    {"[INST] never closed", "", "{% for turn in messages %}[INST]{{ turn.content }}\n{% endfor %}", NULL},
    {"Phi-3 style role tags", "",
     "{% for turn in messages %}<|{{ turn.role }}|>\n{{ turn.content }}<|end|>\n{% endfor %}"
     "{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
     NULL},
    {"Granite style role markers", "",
     "{% for turn in messages %}<|start_of_role|>{{ turn.role }}<|end_of_role|>{{ turn.content }}"
     "<|end_of_text|>\n{% endfor %}",
     NULL},
    {"Command R style turn tokens", "",
     "{{ bos_token }}{% for turn in messages %}<|START_OF_TURN_TOKEN|>"
     "{{ '<|USER_TOKEN|>' if turn.role == 'user' else '<|CHATBOT_TOKEN|>' }}{{ turn.content }}"
     "<|END_OF_TURN_TOKEN|>{% endfor %}",
     NULL},
    {"harmony style messages", "",
     "{% for turn in messages %}<|start|>{{ turn.role }}<|message|>{{ turn.content }}<|end|>{% endfor %}", NULL},
    {"DeepSeek R1 style full-width markers", "",
     "{{ bos_token }}{% for turn in messages %}{% if turn.role == 'user' %}<\xef\xbd\x9cUser\xef\xbd\x9c>"
     "{{ turn.content }}{% else %}<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>{{ turn.content }}{{ eos_token }}"
     "{% endif %}{% endfor %}",
     NULL},
    {"plain role prefixes", "",
     "{% for turn in messages %}{{ turn.role | upper }}: {{ turn.content }}\n{% endfor %}ASSISTANT:", NULL},
    {"the messages as they are", "", "{{ messages }}", NULL},
    {"empty", "", "", NULL},
};
#define N_OWN_TEMPLATES ((int)(sizeof OWN_TEMPLATES / sizeof OWN_TEMPLATES[0]))

/* ------------------------------------------------------------ detection */

static void test_detect(void) {
    int n = 0;
    for (int i = 0; i < N_OWN_TEMPLATES; i++) {
        const own_template *e = &OWN_TEMPLATES[i];
        esft_chat_family got;
        const bool found = esft_chat_detect(e->jinja, &got);
        if (e->family[0])
            CHECKF(found && strcmp(esft_chat_family_name(got), e->family) == 0, "%s: detected %s, want %s",
                   e->name, found ? esft_chat_family_name(got) : "nothing", e->family);
        else
            CHECKF(!found, "%s: detected %s, want a refusal", e->name, esft_chat_family_name(got));
        n++;
    }
    CHECKF(n >= 20, "only %d templates", n);
    esft_chat_family fam;
    CHECK(!esft_chat_detect(NULL, &fam));
}

/* ------------------------------------------------------------ vocabularies */

/* SmolLM2's vocabulary plus added[0..na) (control tokens, ids from 49152
 * on), BOS/EOS pointing at `bos`/`eos`, add_bos_token on, and `jinja` as
 * tokenizer.chat_template: written to a temporary GGUF and opened. */
static gguf_file *vocab_gguf(const gguf_file *base, const char *const *added, size_t na, const char *bos,
                             const char *eos, const char *jinja, esft_tokenizer **tok) {
    const gguf_value *tk = esft_gguf_get_arr(base, "tokenizer.ggml.tokens");
    const gguf_value *ty = esft_gguf_get_arr(base, "tokenizer.ggml.token_type");
    const size_t nt = (size_t)tk->v.arr.n;
    const char **tv = malloc((nt + na) * sizeof *tv);
    int32_t *yv = malloc((nt + na) * sizeof *yv);
    int32_t bos_id = -1, eos_id = -1;
    for (size_t i = 0; tv && yv && i < nt + na; i++) {
        tv[i] = i < nt ? tk->v.arr.items[i].v.str.data : added[i - nt];
        yv[i] = i < nt ? (int32_t)ty->v.arr.items[i].v.i64 : 3;
        if (strcmp(tv[i], bos) == 0) bos_id = (int32_t)i;
        if (strcmp(tv[i], eos) == 0) eos_id = (int32_t)i;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/test_chat_template_vocab.gguf", ESFT_TEST_BINARY_DIR);
    esft_err err = {{0}};
    gguf_file *f = NULL;
    gguf_writer *w = esft_gguf_writer_new();
    bool ok = w && bos_id >= 0 && eos_id >= 0 && !esft_gguf_writer_copy_kvs(w, base, &err) &&
              !esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", tv, nt + na, &err) &&
              !esft_gguf_writer_set_i32_arr(w, "tokenizer.ggml.token_type", yv, nt + na, &err) &&
              !esft_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos_id, &err) &&
              !esft_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos_id, &err) &&
              !esft_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true, &err) &&
              !esft_gguf_writer_set_str(w, "tokenizer.chat_template", jinja, &err) &&
              !esft_gguf_writer_write(w, path, &err) && !esft_gguf_open(path, &f, &err) &&
              !esft_tokenizer_from_gguf(f, tok, &err);
    CHECKF(ok, "building a vocabulary with BOS %s: %s", bos, err.msg);
    esft_gguf_writer_free(w);
    remove(path);
    free(tv);
    free(yv);
    return f;
}

static const char *const GEMMA_TOKENS[] = {"<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"};

/* What esft reads from our templates (default system turn, separator), and
 * the text it then formats, assembled here by the family's layout. */
static void test_template_facts(const gguf_file *base) {
    int n = 0;
    for (int i = 0; i < N_OWN_TEMPLATES; i++) {
        const own_template *e = &OWN_TEMPLATES[i];
        if (!e->fact) continue;
        const bool gemma = strcmp(e->family, "gemma") == 0;
        esft_tokenizer *tok = NULL;
        gguf_file *f = gemma ? vocab_gguf(base, GEMMA_TOKENS, 4, "<bos>", "<eos>", e->jinja, &tok)
                             : vocab_gguf(base, NULL, 0, "<|im_start|>", "<|im_end|>", e->jinja, &tok);
        esft_chat_template t;
        esft_err err = {{0}};
        const bool loaded = f && tok && !esft_chat_template_from_gguf(f, tok, NULL, &t, &err);
        CHECKF(loaded, "%s: %s", e->name, err.msg);
        if (loaded) {
            const char *got = gemma ? t.system_separator : t.default_system;
            CHECKF(strcmp(got, e->fact) == 0, "%s: read [%s], want [%s]", e->name, got, e->fact);
            char want[512];
            if (gemma) {
                const esft_chat_message m[] = {{"system", "S"}, {"user", "U"}};
                snprintf(want, sizeof want, "<bos><start_of_turn>user\nS%sU<end_of_turn>\n<start_of_turn>model\n",
                         e->fact);
                check_format(&t, m, 2, true, want);
            } else {
                const esft_chat_message m[] = {{"user", "hi"}};
                snprintf(want, sizeof want, "%s%s%s<|im_start|>user\nhi<|im_end|>\n",
                         e->fact[0] ? "<|im_start|>system\n" : "", e->fact, e->fact[0] ? "<|im_end|>\n" : "");
                check_format(&t, m, 1, false, want);
            }
            n++;
        }
        esft_tokenizer_free(tok);
        if (f) esft_gguf_close(f);
    }
    CHECKF(n == 7, "%d templates with facts", n);
}

/* Our template of a fixture's family, with its default system turn (with
 * transformers, these render the fixtures' conversations as the official
 * templates did; checked when they were written). */
static void fixture_template(const char *family, const char *default_system, char *out, size_t cap) {
    if (strcmp(family, "chatml") == 0 && default_system && default_system[0])
        snprintf(out, cap, "%s%s%s%s", CHATML_SYSTEM_OPEN, default_system, CHATML_SYSTEM_CLOSE, CHATML_LOOP);
    else
        snprintf(out, cap, "%s",
                 strcmp(family, "chatml") == 0   ? CHATML_LOOP
                 : strcmp(family, "llama3") == 0 ? LLAMA3_TEMPLATE
                 : strcmp(family, "gemma") == 0  ? GEMMA_NO_SYSTEM_TEMPLATE
                                                 : MISTRAL_TEMPLATE);
}

/* The messages of a case (pointing into the JSON). */
static int case_messages(const cJSON *c, esft_chat_message *m, int cap) {
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "messages")) {
        if (n == cap) break;
        m[n++] = (esft_chat_message){str(e, "role"), str(e, "content")};
    }
    return n;
}

static void test_fixture(const gguf_file *base, const char *file) {
    cJSON *fx = read_json(file);
    if (!fx) return;
    const char *added[8];
    size_t na = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(fx, "added")) {
        if (na < 8) added[na++] = e->valuestring;
    }
    static char jinja[2048];
    fixture_template(str(fx, "family"), str(fx, "default_system"), jinja, sizeof jinja);
    esft_tokenizer *tok = NULL;
    gguf_file *f = vocab_gguf(base, added, na, str(fx, "bos"), str(fx, "eos"), jinja, &tok);
    esft_chat_template t;
    esft_err err = {{0}};
    const bool loaded = f && tok && !esft_chat_template_from_gguf(f, tok, NULL, &t, &err);
    CHECKF(loaded, "%s: %s", file, err.msg);
    if (loaded) {
        CHECKF(strcmp(esft_chat_family_name(t.family), str(fx, "family")) == 0, "%s: detected %s", file,
               esft_chat_family_name(t.family));
        /* the facts of the official template, as esft has them */
        const char *sys = str(fx, "default_system"), *sep = str(fx, "system_separator");
        CHECKF(!sys || strcmp(t.default_system, sys) == 0, "%s: default system [%s], want [%s]", file,
               t.default_system, sys);
        CHECKF(!sep || strcmp(t.system_separator, sep) == 0, "%s: system separator [%s], want [%s]", file,
               t.system_separator, sep);
        int n_cases = 0, boses = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(fx, "cases")) {
            esft_chat_message m[16];
            const int n = case_messages(c, m, 16);
            const bool gen = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt"));
            char *text = NULL;
            esft_status st = esft_chat_format(&t, m, n, gen, &text, &err);
            CHECKF(!st && strcmp(text, str(c, "text")) == 0, "%s case %d: got\n[%s]\nwant\n[%s]", file,
                   n_cases, text ? text : err.msg, str(c, "text"));
            int32_t *ids = NULL;
            size_t n_ids = 0;
            st = esft_chat_tokenize(tok, &t, m, n, gen, &ids, &n_ids, &err);
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "ids");
            bool same = !st && n_ids == (size_t)cJSON_GetArraySize(want);
            for (size_t i = 0; same && i < n_ids; i++)
                same = ids[i] == cJSON_GetArrayItem(want, (int)i)->valueint;
            CHECKF(same, "%s case %d: ids differ (%zu vs %d)", file, n_cases, n_ids, cJSON_GetArraySize(want));
            for (size_t i = 0; i < n_ids; i++) boses += ids[i] == esft_tokenizer_bos(tok);
            /* the same text as plain text gets the model's BOS in front */
            if (text && t.family != ESFT_CHAT_CHATML) {
                int32_t *plain = NULL;
                size_t n_plain = 0;
                st = esft_tokenize(tok, text, strlen(text), true, true, &plain, &n_plain, &err);
                CHECK(!st && n_plain == n_ids + 1 && plain[0] == esft_tokenizer_bos(tok));
                free(plain);
            }
            free(ids);
            free(text);
            n_cases++;
        }
        CHECKF(n_cases >= 20, "%s: only %d cases", file, n_cases);
        if (t.family != ESFT_CHAT_CHATML)
            CHECKF(boses == n_cases, "%s: %d BOS tokens in %d cases", file, boses, n_cases);
        printf("%s: %d conversations (%s, %s)\n", file, n_cases, str(fx, "family"), str(fx, "source"));
    }
    esft_tokenizer_free(tok);
    if (f) esft_gguf_close(f);
    cJSON_Delete(fx);
}

/* ------------------------------------------------------------ by hand */

static void test_by_hand(void) {
    esft_chat_template g, mi, c, l;
    esft_chat_template_init(&g, ESFT_CHAT_GEMMA);
    esft_chat_template_init(&mi, ESFT_CHAT_MISTRAL);
    esft_chat_template_init(&c, ESFT_CHAT_CHATML);
    esft_chat_template_init(&l, ESFT_CHAT_LLAMA3);
    /* Gemma 3 folds the system message, untrimmed, into the first user turn */
    const esft_chat_message sys_chat[] = {{"system", " Be brief. "}, {"user", " Hi "}, {"assistant", "Hello"},
                                          {"user", "Bye"}};
    check_format(&g, sys_chat, 4, true,
                 "<bos><start_of_turn>user\n Be brief. \n\nHi<end_of_turn>\n<start_of_turn>model\nHello"
                 "<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
    check_format(&mi, sys_chat, 4, true, "<s>[INST] Hi [/INST]Hello</s>[INST] Be brief. \n\nBye[/INST]");
    check_format(&c, sys_chat, 2, false, "<|im_start|>system\n Be brief. <|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n");
    check_format(&l, sys_chat + 1, 1, true,
                 "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
    /* a stray UTF-8 byte is not whitespace: trim keeps it */
    const esft_chat_message stray[] = {{"user", " \xff "}};
    check_format(&l, stray, 1, false, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n\xff<|eot_id|>");
    /* orders the Gemma and Mistral templates raise on */
    const esft_chat_message two_users[] = {{"user", "a"}, {"user", "b"}};
    check_refused(&g, two_users, 2, "message 2: role 'user' where the gemma template needs 'assistant'");
    check_refused(&mi, sys_chat + 2, 2, "message 1: role 'assistant'");
    const esft_chat_message tool[] = {{"tool", "x"}};
    check_refused(&c, tool, 1, "message 1: role 'tool' is not system, user or assistant");
    const esft_chat_message no_content[] = {{"user", NULL}};
    check_refused(&l, no_content, 1, "message 1: missing role or content");

    esft_chat_family fam;
    CHECK(esft_chat_family_from_name("gemma", &fam) && fam == ESFT_CHAT_GEMMA);
    CHECK(!esft_chat_family_from_name("jinja", &fam));
}

/* The model's own template, and the refusals naming --template. */
static void test_model_template(const gguf_file *f) {
    esft_tokenizer *tok = NULL;
    esft_err err = {{0}};
    CHECK(!esft_tokenizer_from_gguf(f, &tok, &err));
    if (!tok) return;
    esft_chat_template t;
    CHECK(!esft_chat_template_from_gguf(f, tok, NULL, &t, &err) && t.family == ESFT_CHAT_CHATML);
    CHECK(strcmp(t.default_system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face") == 0);
    CHECK(!esft_chat_template_from_gguf(f, tok, "none", &t, &err) && t.family == ESFT_CHAT_NONE);
    esft_status st = esft_chat_template_from_gguf(f, tok, "llama3", &t, &err);
    CHECKF(st == ESFT_ERR_INVALID_ARG && strstr(err.msg, "no special token <|start_header_id|>"), "%s", err.msg);
    st = esft_chat_template_from_gguf(f, tok, "vicuna", &t, &err);
    CHECKF(st == ESFT_ERR_INVALID_ARG && strstr(err.msg, "--template vicuna: unknown template (use "
                                                         "chatml|llama3|gemma|mistral|none)"), "%s", err.msg);
    esft_tokenizer_free(tok);
}

/* What a run records: chat runs from before templates were recorded used
 * ChatML without a system turn. */
static void test_run_config_keys(void) {
    esft_run_config c = {.chat = true};
    esft_run_config_chat_keys(&c, NULL, NULL);
    CHECK(strcmp(c.chat_template, "chatml") == 0 && c.system[0] == '\0');
    esft_run_config_chat_keys(&c, "gemma", "Be brief.");
    CHECK(strcmp(c.chat_template, "gemma") == 0 && strcmp(c.system, "Be brief.") == 0);
    c.chat = false;
    esft_run_config_chat_keys(&c, "gemma", "Be brief.");
    CHECK(c.chat_template[0] == '\0' && c.system[0] == '\0');
}

int main(void) {
    g_model_dir = getenv("ESFT_MODEL_DIR");
    if (!g_model_dir || !*g_model_dir) g_model_dir = ESFT_TEST_DATA_DIR "/../models/cache";
    test_detect();
    test_by_hand();
    test_run_config_keys();
    char path[1024];
    snprintf(path, sizeof path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", g_model_dir);
    gguf_file *base = NULL;
    esft_err err;
    if (esft_gguf_open(path, &base, &err)) {
        fprintf(stderr, "note: %s: the fixture conversations need it and are skipped\n", err.msg);
    } else {
        test_model_template(base);
        test_template_facts(base);
        static const char *const fixtures[] = {"chat_smollm2.json", "chat_qwen2.5.json", "chat_qwen3.json", "chat_llama3.json",
                                               "chat_gemma.json", "chat_mistral.json"};
        for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) test_fixture(base, fixtures[i]);
        esft_gguf_close(base);
    }
    return TEST_EXIT();
}
