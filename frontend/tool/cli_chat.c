#include "cli_chat.h"

#include <stdio.h>
#include <string.h>

int cli_chat_config(const char *cmd, bool chat, const char *tmpl, const char *system, esft_run_config *cfg) {
    esft_chat_family family;
    if (tmpl && !esft_chat_family_from_name(tmpl, &family)) {
        fprintf(stderr, "esft %s: --template %s: unknown template (use %s)\n", cmd, tmpl, esft_chat_family_names());
        return ESFT_EXIT_USAGE;
    }
    if (system && strlen(system) >= sizeof cfg->system) {
        fprintf(stderr, "esft %s: --system: longer than %zu bytes\n", cmd, sizeof cfg->system - 1);
        return ESFT_EXIT_USAGE;
    }
    cfg->chat = chat;
    snprintf(cfg->chat_template, sizeof cfg->chat_template, "%s", tmpl ? tmpl : "");
    snprintf(cfg->system, sizeof cfg->system, "%s", system ? system : "");
    return ESFT_EXIT_OK;
}

int cli_chat_template(const char *cmd, const esft_model *m, esft_run_config *cfg, esft_chat_template *storage,
                      const esft_chat_template **use) {
    if (!cfg->chat && (cfg->chat_template[0] || cfg->system[0])) {
        fprintf(stderr, "esft %s: --template and --system need --chat\n", cmd);
        return ESFT_EXIT_USAGE;
    }
    esft_err err = {{0}};
    if (esft_run_chat_template(m, cfg, storage, use, &err)) {
        fprintf(stderr, "esft %s: %s\n", cmd, err.msg);
        return ESFT_EXIT_USAGE;
    }
    return ESFT_EXIT_OK;
}
