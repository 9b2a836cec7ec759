################################################################################
#
# cocos-agent
#
################################################################################

# The repository that holds this external tree (images/buildroot → repo root).
COCOS_AGENT_VERSION = local
COCOS_AGENT_SITE = $(BR2_EXTERNAL_COCOS_BUN_PATH)/../..
COCOS_AGENT_SITE_METHOD = local
COCOS_AGENT_LICENSE = Apache-2.0
COCOS_AGENT_PREBUILT = $(call qstrip,$(BR2_PACKAGE_COCOS_AGENT_PREBUILT))

ifeq ($(COCOS_AGENT_PREBUILT),)
define COCOS_AGENT_BUILD_CMDS
	cd $(@D) && bun install --frozen-lockfile && bun run build
endef
COCOS_AGENT_BINARY = $(@D)/dist/cocos-agent
else
COCOS_AGENT_BINARY = $(COCOS_AGENT_PREBUILT)
endif

define COCOS_AGENT_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(COCOS_AGENT_BINARY) $(TARGET_DIR)/bin/cocos-agent
	mkdir -p $(TARGET_DIR)/cocos $(TARGET_DIR)/etc/cocos
endef

$(eval $(generic-package))
