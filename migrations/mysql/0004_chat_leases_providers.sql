CREATE TABLE `conversations` (
	`id` int AUTO_INCREMENT NOT NULL,
	`user_id` int NOT NULL,
	`title` varchar(200) NOT NULL,
	`title_pending` boolean NOT NULL DEFAULT true,
	`model` varchar(128),
	`api_id` int,
	`system_prompt` mediumtext,
	`message_count` int NOT NULL DEFAULT 0,
	`token_used` bigint NOT NULL DEFAULT 0,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `conversations_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `messages` (
	`id` bigint AUTO_INCREMENT NOT NULL,
	`conversation_id` int NOT NULL,
	`user_id` int NOT NULL,
	`role` varchar(16) NOT NULL,
	`content` mediumtext NOT NULL,
	`model` varchar(128),
	`prompt_tokens` int NOT NULL DEFAULT 0,
	`completion_tokens` int NOT NULL DEFAULT 0,
	`status` varchar(16) NOT NULL DEFAULT 'complete',
	`clear_context` boolean NOT NULL DEFAULT false,
	`error` varchar(1024),
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `messages_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `personal_apis` (
	`id` int AUTO_INCREMENT NOT NULL,
	`user_id` int NOT NULL,
	`name` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`type` varchar(16) NOT NULL DEFAULT 'openai',
	`base_url` varchar(512) NOT NULL,
	`key_encrypted` text NOT NULL,
	`key_mask` varchar(32) NOT NULL,
	`model` varchar(128) NOT NULL,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `personal_apis_id` PRIMARY KEY(`id`),
	CONSTRAINT `personal_apis_user_name_uq` UNIQUE(`user_id`,`name`)
);
--> statement-breakpoint
CREATE TABLE `quota_leases` (
	`id` int AUTO_INCREMENT NOT NULL,
	`instance_id` varchar(64) NOT NULL,
	`kind` varchar(8) NOT NULL,
	`subject_id` int NOT NULL,
	`amount` bigint NOT NULL DEFAULT 0,
	`heartbeat_at` datetime(3) NOT NULL,
	CONSTRAINT `quota_leases_id` PRIMARY KEY(`id`),
	CONSTRAINT `quota_leases_owner_uq` UNIQUE(`instance_id`,`kind`,`subject_id`)
);
--> statement-breakpoint
CREATE TABLE `redemption_codes` (
	`id` int AUTO_INCREMENT NOT NULL,
	`name` varchar(100) NOT NULL,
	`code_hash` varchar(64) NOT NULL,
	`code_mask` varchar(32) NOT NULL,
	`amount_micros` bigint NOT NULL,
	`quota` bigint NOT NULL,
	`status` varchar(16) NOT NULL DEFAULT 'unused',
	`created_by` int NOT NULL,
	`redeemed_by` int,
	`redeemed_at` datetime(3),
	`expires_at` datetime(3),
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `redemption_codes_id` PRIMARY KEY(`id`),
	CONSTRAINT `redemption_codes_hash_uq` UNIQUE(`code_hash`)
);
--> statement-breakpoint
ALTER TABLE `prices` ADD `cache_read_micros_per_1m` bigint;--> statement-breakpoint
ALTER TABLE `prices` ADD `cache_write_micros_per_1m` bigint;--> statement-breakpoint
ALTER TABLE `tokens` ADD `personal_api_id` int;--> statement-breakpoint
ALTER TABLE `usage_logs` ADD `cached_tokens` int DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_logs` ADD `cache_write_tokens` int DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_logs` ADD `reasoning_tokens` int DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_logs` ADD `source` varchar(16) DEFAULT 'relay' NOT NULL;--> statement-breakpoint
CREATE INDEX `conversations_user_updated_idx` ON `conversations` (`user_id`,`updated_at`);--> statement-breakpoint
CREATE INDEX `messages_conversation_idx` ON `messages` (`conversation_id`,`id`);--> statement-breakpoint
CREATE INDEX `quota_leases_subject_idx` ON `quota_leases` (`kind`,`subject_id`);