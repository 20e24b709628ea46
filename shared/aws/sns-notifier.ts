import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Notification } from '../stage-events.ts';
import { toNightshiftError } from './aws-errors.ts';

/** Publishes run notifications to an SNS topic (or logs that none is configured). */
export class SnsNotifier {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string | undefined,
  ) {}

  async publish(notification: Notification): Promise<void> {
    if (!this.topicArn) return;
    try {
      await this.client.send(
        new PublishCommand({ TopicArn: this.topicArn, Subject: notification.subject, Message: notification.message }),
      );
    } catch (error) {
      throw toNightshiftError(error, `publishing to ${this.topicArn}`);
    }
  }
}
