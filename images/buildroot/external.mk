include $(sort $(wildcard $(BR2_EXTERNAL_COCOS_BUN_PATH)/package/*/*.mk))
